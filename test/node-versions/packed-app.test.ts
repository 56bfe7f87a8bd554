// The package as a new user meets it, on the Node.js that runs this suite (each CI leg runs it on its own): a
// clone-like copy of the repository builds, packs and runs `dev` (dashboard served, a seller connected over plain
// HTTP through the sandbox's consent forms); the packed tarball installs into a fresh app compiling nothing,
// every subpath export imports, `npx noon-connect --version` answers, `dev` works where node:sqlite exists, and a
// missing optional driver is a one-line refusal with exit 3 naming the package to add.

import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultSqliteDriver } from '../../src/store/index.js';
import { connectThroughDashboard, startDev, stopDev } from '../helpers/dev-run.js';
import { freePort } from '../helpers/net.js';
import { PG_URL, tempDir } from '../helpers/stores.js';
import { serveEnv, storeRefusalLine } from './serve-refusal.js';

const ROOT = resolve(import.meta.dirname, '../..');
const NODE_SQLITE = defaultSqliteDriver() === 'node:sqlite';

/**
 * The environment for npm and the command: this Node.js first on PATH, and none of the `npm_*` variables an
 * outer `npm test` sets (npm_config_local_prefix among them would point a nested npm at this repository).
 */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/^npm_/i.test(k) && !/^NOON_/.test(k)) env[k] = v;
  env.PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
  return { ...env, ...extra };
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, env = userEnv()): Promise<Ran> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

function ok(r: Ran, what: string): Ran {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The repository's files as a fresh clone has them (tracked, plus new files not ignored), copied to `dir`. */
async function cloneLikeCopy(dir: string): Promise<void> {
  const listed = ok(await run('git', ['ls-files', '-z', '-co', '--exclude-standard'], ROOT), 'git ls-files');
  for (const file of listed.stdout.split('\0')) {
    const from = join(ROOT, file);
    if (!file || !existsSync(from) || !statSync(from).isFile()) continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(from, join(dir, file));
  }
  // The dependencies the clone's `npm install` would bring; installing them again here only costs time.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
}

/** Every file below `dir`, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
  );
}

// --- the tests --------------------------------------------------------------------------------------------------

describe(`the package on Node.js ${process.version} (${defaultSqliteDriver()})`, () => {
  const work = tempDir('nc-package-');
  const clone = join(work, 'clone');
  const app = join(work, 'app');
  let tarball = '';
  let install: Ran;
  let manifest: Record<string, any>;

  beforeAll(async () => {
    mkdirSync(clone);
    await cloneLikeCopy(clone);
    // What `npm install` in a fresh clone runs through `prepare`, then the tarball as `npm publish` makes it.
    ok(await run('npm', ['run', 'build'], clone), 'npm run build');
    const packed = ok(
      await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], clone),
      'npm pack',
    );
    tarball = join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true, type: 'module' }),
    );
    install = ok(
      await run(
        'npm',
        ['install', '--foreground-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball],
        app,
      ),
      'npm install',
    );
    manifest = JSON.parse(readFileSync(join(app, 'node_modules/noon-connect/package.json'), 'utf8'));
  }, 300_000);

  it('installs into a fresh app compiling nothing: no install script, no native addon, no node-gyp', () => {
    const log = `${install.stdout}\n${install.stderr}`;
    expect(log).not.toMatch(/node-gyp|gyp info|prebuild-install|node-pre-gyp/i);
    // npm 11 lists scripts it would want approved. From a tarball it lists the package's own `prepare` (which it
    // does not run for a tarball, and never lists for a registry install); any other entry is a dependency's.
    const unapproved = [...log.matchAll(/^npm warn install-scripts\s+(\S+)@\S+ \((\w+):/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    expect(unapproved.filter((s) => s !== 'noon-connect prepare')).toEqual([]);
    const installed = walk(join(app, 'node_modules'));
    expect(installed.filter((f) => f.endsWith('.node'))).toEqual([]);
    const scripted = installed
      .filter((f) => f.endsWith('package.json') && !f.includes('/test/'))
      .filter((f) => {
        try {
          const scripts = JSON.parse(readFileSync(join(app, 'node_modules', f), 'utf8')).scripts ?? {};
          return ['preinstall', 'install', 'postinstall'].some((s) => typeof scripts[s] === 'string');
        } catch {
          return false;
        }
      });
    expect(scripted).toEqual([]);
    // The optional drivers are not installed for the user: they add the one they need.
    expect(existsSync(join(app, 'node_modules/better-sqlite3'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/pg'))).toBe(false);
  });

  it('declares honest dependencies: only what src imports, the drivers as optional peers', () => {
    expect(Object.keys(manifest.dependencies ?? {}).sort()).toEqual(['pino', 'undici']);
    for (const peer of ['better-sqlite3', 'pg']) {
      expect(manifest.peerDependencies?.[peer]).toMatch(/^\^\d+$/);
      expect(manifest.peerDependenciesMeta?.[peer]?.optional).toBe(true);
    }
    for (const field of ['repository', 'homepage', 'bugs']) expect(manifest[field]).toBeTruthy();
    expect(manifest.license).toBe('MIT');
  });

  it('ships LICENSE, the docs its README links to, and no source map without its source', () => {
    const pkg = join(app, 'node_modules/noon-connect');
    const files = walk(pkg);
    expect(files).toContain('LICENSE');
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    const broken: string[] = [];
    for (const md of files.filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(pkg, md), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        if (!existsSync(resolve(dirname(join(pkg, md)), target))) broken.push(`${md} → ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every subpath export imports in the fresh app', async () => {
    const subpaths = Object.keys(manifest.exports as object).filter((k) => k !== './package.json');
    expect(subpaths.length).toBeGreaterThan(5);
    const specifiers = subpaths.map((k) => `noon-connect${k.slice(1)}`);
    const script = `for (const s of ${JSON.stringify(specifiers)}) { const m = await import(s); console.log(s, Object.keys(m).length); }`;
    const r = ok(await run(process.execPath, ['--input-type=module', '-e', script], app), 'import');
    for (const s of specifiers) expect(r.stdout).toMatch(new RegExp(`^${s} [1-9]\\d*$`, 'm'));
    expect(r.stderr).toBe('');
  });

  it('npx noon-connect --version prints the version and nothing else', async () => {
    const r = ok(await run('npx', ['--no-install', 'noon-connect', '--version'], app), 'npx noon-connect');
    expect(r.stdout.trim()).toBe(manifest.version);
    expect(r.stderr).toBe('');
  });

  it('a Postgres store without the pg package: serve refuses in one line naming the package, exit 3', async () => {
    const r = await run(join(app, 'node_modules/.bin/noon-connect'), ['serve'], app, {
      ...userEnv(),
      ...serveEnv(PG_URL),
    });
    expect(storeRefusalLine(r)).toMatch(/npm install pg@8/);
  });

  it.skipIf(NODE_SQLITE)(
    'SQLite on a Node.js without node:sqlite and without better-sqlite3: serve names both ways out, exit 3',
    async () => {
      const r = await run(join(app, 'node_modules/.bin/noon-connect'), ['serve'], app, {
        ...userEnv(),
        ...serveEnv(`sqlite:${join(tempDir('nc-app-'), 'connect.db')}`),
      });
      const line = storeRefusalLine(r);
      expect(line).toMatch(/Node\.js 22\.13 or newer/);
      expect(line).toMatch(/npm install better-sqlite3@12/);
    },
  );

  it.skipIf(!NODE_SQLITE)(
    'dev in the fresh app serves the dashboard and connects a seller, on node:sqlite',
    async () => {
      const port = await freePort();
      const dev = await startDev(
        join(app, 'node_modules/.bin/noon-connect'),
        ['dev', '--port', String(port), '--sandbox-port', '0', '--data-dir', join(work, 'app-data')],
        app,
        userEnv(),
      );
      try {
        expect(await connectThroughDashboard(dev)).toContain('Seller connected');
      } finally {
        expect(await stopDev(dev)).toBe(0);
      }
      expect(dev.output()).not.toMatch(/ExperimentalWarning|better-sqlite3|NODE_MODULE_VERSION/);
    },
    120_000,
  );

  it('dev from a fresh clone (node bin/noon-connect.js dev) serves the dashboard and connects a seller', async () => {
    const port = await freePort();
    const dev = await startDev(
      process.execPath,
      ['bin/noon-connect.js', 'dev', '--port', String(port), '--sandbox-port', '0'],
      clone,
      userEnv(),
    );
    try {
      expect(await connectThroughDashboard(dev)).toContain('Seller connected');
    } finally {
      expect(await stopDev(dev)).toBe(0);
    }
    expect(dev.output()).not.toMatch(/ExperimentalWarning|NODE_MODULE_VERSION/);
    // The quick start keeps its data under .data in the clone.
    expect(existsSync(join(clone, '.data/connect.db'))).toBe(true);
  }, 120_000);
});
