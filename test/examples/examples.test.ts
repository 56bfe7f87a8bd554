// The examples/ folder run as a user would run it: the package built and packed once (`npm pack`), installed from
// its tarball into a temporary node_modules (the frameworks come from this repository's node_modules), the
// examples copied beside it so `noon-connect/…` resolves to the installed package and nothing else. Each app
// (Express, Fastify, Hono, and the Next.js App Router route handlers served as Web handlers) connects a seller end
// to end against the sandbox; the REST snippets (curl, Python standard library) make a link through the service,
// the seller connects, and they list the connection.

import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { decide, openConsent, signInSeller } from '../helpers/browser.js';
import { browse, Jar } from '../helpers/dev-run.js';
import { registerClient, type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { freePort } from '../helpers/net.js';
import { startSandbox } from '../helpers/sandbox.js';
import { tempDir } from '../helpers/stores.js';

const run = promisify(execFile);
const ROOT = process.cwd();
/** What the apps take from this repository's node_modules, as an app would have them installed. */
const FRAMEWORKS = ['express', 'fastify', 'hono', 'next', 'react', 'react-dom', 'better-sqlite3'];

/** Whether a command line tool is on the PATH; without it its snippet is skipped with a line saying so (CI has both). */
function toolPresent(tool: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
  if (!found && process.env.CI) throw new Error(`${tool} is required in CI for the REST snippet tests`);
  if (!found) console.warn(`examples: the ${tool} snippet is skipped: ${tool} is not installed`);
  return found;
}

/** Builds the package into a staging copy (the repository's dist is left alone), packs it and installs it. */
async function installPacked(dir: string): Promise<string> {
  const stage = join(dir, 'stage');
  mkdirSync(stage);
  for (const f of ['package.json', 'README.md', 'LICENSE', 'bin', 'docs', 'examples'])
    cpSync(join(ROOT, f), join(stage, f), { recursive: true });
  await run(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      join(stage, 'dist'),
    ],
    { cwd: ROOT },
  ).catch((e: { stdout?: string }) => {
    // A type error elsewhere still emits; a missing entry point below fails the suite.
    process.stderr.write(`tsc while packing the examples: ${String(e.stdout ?? e).slice(0, 2000)}\n`);
  });
  expect(existsSync(join(stage, 'dist/http/index.js'))).toBe(true);
  const packed = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], {
    cwd: stage,
  });
  const tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'examples-run', private: true, type: 'module' }),
  );
  // The tarball's dependencies come from npm's cache when it has them; on a machine whose cache holds only what
  // `npm ci` fetched (tarballs, no package metadata) npm asks the registry for the metadata it lacks.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], {
    cwd: app,
  });
  for (const name of FRAMEWORKS)
    symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name), 'dir');
  cpSync(join(ROOT, 'examples'), join(app, 'examples'), { recursive: true });
  cpSync(join(ROOT, 'test/examples/next-route-host.mjs'), join(app, 'next-route-host.mjs'));
  return app;
}

interface App {
  child: ChildProcess;
  origin: string;
  output: () => string;
}

async function startApp(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  port: number,
  ready = /example on http/,
  startMs = 30_000,
): Promise<App> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (ready.test(output)) return resolve();
      if (child.exitCode !== null)
        return reject(new Error(`${args.join(' ')} exited ${child.exitCode}:\n${output}`));
      if (Date.now() - started > startMs)
        return reject(new Error(`${args.join(' ')} did not start:\n${output}`));
      setTimeout(tick, 50);
    };
    tick();
  });
  return { child, origin: `http://127.0.0.1:${port}`, output: () => output };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  return exited;
}

/** The seller's side: sign in on the sandbox consent page at `authorize`, choose `project`, and allow. */
async function allow(
  sb: Sandbox,
  authorize: string,
  seller: { email: string; password: string },
  project: string,
) {
  const cookie = await signInSeller(sb, authorize, seller);
  const { form } = await openConsent(authorize, cookie);
  form.fields = form.fields.filter(([n]) => n !== 'project_code');
  form.fields.push(['project_code', project]);
  const decided = await decide(sb, form, cookie, 'approve');
  expect(decided.status).toBe(303);
  return new URL(decided.location!, sb.url).toString();
}

describe('examples/: each app connects a seller end to end against the sandbox, from the packed package', () => {
  let dir: string;
  let appDir: string;
  let sb: Sandbox;
  const apps: App[] = [];
  /** Every seller project of the sandbox, so no project collects more keys than the 5 noon allows. */
  let sellers: { email: string; password: string; project: string }[] = [];
  let next = 0;
  const nextSeller = () => sellers[next++ % sellers.length]!;

  beforeAll(async () => {
    dir = tempDir('nc-examples-');
    [appDir, sb] = await Promise.all([installPacked(dir), startSandbox({ poolSize: 8 })]);
    sellers = sb.fixtures.sellers.flatMap((s) =>
      s.projects.map((project) => ({ email: s.email, password: s.password, project })),
    );
  }, 180_000);

  afterAll(async () => {
    for (const a of apps) await stop(a.child);
    await sb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Each app: how it is started, and the line that says it is ready. */
  const frameworks: [string, (app: string, port: number) => string[], RegExp][] = [
    ['express', (app) => [join(app, 'examples/express/server.mjs')], /example on http/],
    ['fastify', (app) => [join(app, 'examples/fastify/server.mjs')], /example on http/],
    ['hono', (app) => [join(app, 'examples/hono/server.mjs')], /example on http/],
    // The route handlers as Web handlers on node:http (fast), and the same app under a real `next dev`. Webpack,
    // not Turbopack: Turbopack compiles nothing outside the app's root, and the frameworks here are symlinks
    // into this repository's node_modules (an app that installs next itself runs either).
    [
      'nextjs (route handlers)',
      (app) => [join(app, 'next-route-host.mjs'), join(app, 'examples/nextjs/app')],
      /example on http/,
    ],
    [
      'nextjs (next dev)',
      (app, port) => [
        join(app, 'node_modules/next/dist/bin/next'),
        'dev',
        'examples/nextjs',
        '--webpack',
        '-p',
        String(port),
        '-H',
        '127.0.0.1',
      ],
      /Ready in/,
    ],
  ];

  it.each(frameworks)(
    '%s: sign in, connect a seller through the sandbox, land on /settings/noon with the connection',
    async (label, argsOf, ready) => {
      const name = label.replace(/[^a-z]+/g, '-').replace(/-$/, '');
      const port = await freePort();
      const origin = `http://127.0.0.1:${port}`;
      const client = registerClient(sb, [`${origin}/connect/callback`], `${name} example`);
      const app = await startApp(
        argsOf(appDir, port),
        appDir,
        {
          PATH: process.env.PATH,
          // Nothing reaches outside: no telemetry, and Next's version check (if any) meets a closed loopback port.
          NEXT_TELEMETRY_DISABLED: '1',
          npm_config_registry: 'http://127.0.0.1:9/',
          PORT: String(port),
          NOON_ENV: 'local',
          NOON_LOCAL_URL: sb.url,
          NOON_CLIENT_ID: client.clientId,
          NOON_CLIENT_SECRET: client.clientSecret,
          NOON_KEY_FILE: sb.fixtures.integrator.keyFile,
          APP_PUBLIC_URL: origin,
          APP_DATABASE: join(dir, `${name}.db`),
          APP_MASTER_KEY: randomBytes(32).toString('base64'),
        },
        port,
        ready,
        90_000,
      );
      apps.push(app);

      const jar = new Jar();
      await browse(jar, `${origin}/login?user=acme-${name}`, origin);
      // Without the sign-in cookie the start is refused: the tenant comes from the app's own auth.
      expect((await fetch(`${origin}/connect/start`, { redirect: 'manual' })).status).toBe(401);
      const toNoon = await browse(jar, `${origin}/connect/start`, origin);
      expect(toNoon.url.startsWith(sb.authorizeUrl)).toBe(true);
      const seller = nextSeller();
      const back = await allow(sb, toNoon.url, seller, seller.project);
      const landed = await browse(jar, back, origin);
      expect(new URL(landed.url).pathname, app.output()).toBe('/settings/noon');
      expect(landed.status).toBe(200);
      const body = JSON.parse(landed.text) as {
        status: string;
        connections: { seller_project: string; status: string }[];
      };
      expect(body.status).toBe('connected');
      expect(body.connections).toEqual([
        expect.objectContaining({ seller_project: seller.project, status: 'active' }),
      ]);
      // The sandbox issued that seller's key through the exchange.
      expect(
        sb.ledger.entries().some((e) => e.sellerProject === seller.project && e.via === 'exchange'),
      ).toBe(true);
    },
    180_000,
  );

  describe('REST snippets against the service', () => {
    let stack: ServiceStack;
    beforeAll(async () => {
      stack = await startServiceStack({ sandbox: sb });
    }, 60_000);
    afterAll(async () => {
      await stack?.close();
    });

    /** Each snippet: its name, the tool it needs, and how it is run. */
    const all: [string, string, string, string[]][] = [
      ['curl', 'curl', 'sh', ['examples/rest/connect.sh']],
      ['python', 'python3', 'python3', ['examples/rest/connect.py']],
    ];
    const snippets = all
      .filter(([, tool]) => toolPresent(tool))
      .map(([name, , cmd, args]): [string, string, string[]] => [name, cmd, args]);

    it.each(snippets)(
      '%s: makes a connect link, the seller connects, and the connection is listed',
      async (name, cmd, args) => {
        const env = {
          PATH: process.env.PATH,
          NOON_CONNECT_URL: stack.url,
          NOON_CONNECT_API_TOKEN: stack.apiToken,
        };
        const tenant = `rest-${name}`;
        const link = JSON.parse((await run(cmd, [...args, 'link', tenant], { cwd: appDir, env })).stdout) as {
          url: string;
        };
        expect(link.url.startsWith(`${stack.url}/connect/start?t=`)).toBe(true);
        const jar = new Jar();
        const toNoon = await browse(jar, link.url, stack.url);
        const seller = nextSeller();
        const back = await allow(sb, toNoon.url, seller, seller.project);
        const landed = await browse(jar, back, stack.url);
        expect(landed.text).toContain('Connected');
        const list = JSON.parse((await run(cmd, [...args, 'list', tenant], { cwd: appDir, env })).stdout) as {
          connections: { id: string; seller_project: string; status: string }[];
        };
        expect(list.connections).toEqual([
          expect.objectContaining({ seller_project: seller.project, status: 'active' }),
        ]);
        const health = JSON.parse(
          (await run(cmd, [...args, 'health', list.connections[0]!.id], { cwd: appDir, env })).stdout,
        ) as { ok: boolean };
        expect(health.ok).toBe(true);
      },
      60_000,
    );
  });
});
