// runCheck(): starts the sandbox (or links to one), gives the application its OAuth client, says what the
// application must be configured with, waits for it, then runs every selected check, each against its own seller
// projects and under its own deadline, and returns the report.

import { readFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { createSandbox, type Sandbox } from '../sandbox/index.js';
import { CheckAborted } from './agent.js';
import { type AppProcess, startApp } from './app-process.js';
import { Cases, type CheckDef, fail } from './cases.js';
import { CHECKS } from './checks/index.js';
import { connect } from './flow.js';
import { type CheckOptions, type ResolvedOptions, resolveOptions, selected } from './options.js';
import { summarize, worst } from './report.js';
import { Run } from './run.js';
import { SandboxLink, SandboxUnavailable } from './sandbox-link.js';
import type { CheckReport, CheckResult } from './types.js';

/**
 * Switches the checker sets on the sandbox it uses. It observes instead of blocking: a call without the integrator
 * session or a User-Agent still works, so the journal shows exactly that and only the check about it fails; and
 * the failed-code limiter is off, since the checks provoke failed codes on purpose.
 */
export const CHECK_SWITCHES = Object.freeze({
  requireOAuthSession: false,
  requireUserAgent: false,
  failedCodeLimit: null,
});

/** What the application must be configured with, also as the environment variables --exec passes. */
export interface AppConfig {
  authorizeUrl: string;
  gatewayUrl: string;
  clientId: string;
  clientSecret: string;
  keyFile: string | null;
  callback: string;
  env: Record<string, string>;
}

export interface RunHooks {
  onConfig?: (config: AppConfig) => void;
  onWaiting?: (start: URL) => void;
  onCheck?: (result: CheckResult) => void;
}

interface Linked {
  link: SandboxLink;
  clientId: string;
  clientSecret: string;
  keyFile: string | null;
}

async function linkExisting(o: ResolvedOptions): Promise<Linked> {
  const link = new SandboxLink(o.sandbox!, o.sandboxToken);
  const fx = await link.fixtures();
  const callback = o.callback.toString();
  let client = o.clientId
    ? fx.clients.find((c) => c.client_id === o.clientId)
    : fx.clients.find((c) => c.redirect_uris.includes(callback));
  if (o.clientId && !client) throw new SandboxUnavailable(`the sandbox has no client '${o.clientId}'`);
  if (client && !client.redirect_uris.includes(callback))
    throw new SandboxUnavailable(`client '${client.client_id}' does not register the callback ${callback}`);
  if (!client) {
    const made = await link.addClient({
      ...(o.clientSecret ? { client_secret: o.clientSecret } : {}),
      name: 'Application under check',
      redirect_uris: [callback],
    });
    client = { ...made, project_code: fx.integrators[0]?.project_code ?? '', redirect_uris: [callback] };
  }
  const owner = fx.integrators.find((i) => i.project_code === client.project_code) ?? fx.integrators[0];
  return {
    link,
    clientId: client.client_id,
    clientSecret: client.client_secret,
    keyFile: owner?.key_file ?? null,
  };
}

async function startOwn(o: ResolvedOptions): Promise<{ sandbox: Sandbox; linked: Linked }> {
  const sandbox = await createSandbox({
    port: o.sandboxPort,
    poolSize: 4,
    switches: { ...CHECK_SWITCHES },
    ...(o.keyFile ? { keyFile: o.keyFile } : {}),
    ...(o.keyCacheDir ? { keyCacheDir: o.keyCacheDir } : {}),
    // The application's own mistakes show in the report; the sandbox has nothing to add on stderr.
    onError: () => {},
  });
  const client = sandbox.addClient({
    client_id: o.clientId ?? 'noon-connect-check',
    ...(o.clientSecret ? { client_secret: o.clientSecret } : {}),
    name: 'Application under check',
    redirect_uris: [o.callback.toString()],
  });
  return {
    sandbox,
    linked: {
      link: new SandboxLink(sandbox.url),
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      keyFile: sandbox.fixtures.integrator.keyFile ?? null,
    },
  };
}

function accepts(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const socket = netConnect({ host: url.hostname.replace(/^\[|\]$/g, ''), port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits until the start URL's host accepts connections; a message when it never does. */
async function waitForApp(o: ResolvedOptions, app: AppProcess | undefined): Promise<string | undefined> {
  const until = Date.now() + o.waitMs;
  for (;;) {
    if (await accepts(o.start)) return undefined;
    const code = app?.exited();
    if (code !== undefined)
      return `the application started by --exec exited (code ${code ?? 'signal'}) before accepting connections at ${o.start.origin}`;
    if (Date.now() >= until)
      return `the application did not accept connections at ${o.start.origin} within ${o.waitMs / 1000} s`;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function safeName(e: unknown): string {
  return e instanceof Error ? e.name : 'error';
}

async function runOne(run: Run, def: CheckDef): Promise<CheckResult> {
  const ac = new AbortController();
  run.signal = ac.signal;
  run.step = 'starting';
  const cases = new Cases(run);
  const started = performance.now();
  const deadline = new Promise<'deadline'>((resolve) => {
    const timer = setTimeout(() => {
      ac.abort();
      resolve('deadline');
    }, run.o.checkTimeoutMs);
    ac.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
  const at = () => performance.now() - started;
  try {
    const ended = await Promise.race([def.run(cases).then(() => 'done' as const), deadline]);
    if (ended === 'deadline') throw new CheckAborted();
  } catch (e) {
    if (e instanceof CheckAborted || ac.signal.aborted) {
      cases.add(
        `${def.id}.deadline`,
        'The check finishes in time',
        fail(`the check did not finish within ${run.o.checkTimeoutMs / 1000} s (it was ${run.step})`),
        at(),
      );
    } else if (e instanceof SandboxUnavailable) {
      cases.add(`${def.id}.sandbox`, 'The sandbox answers', fail(e.message), at());
    } else {
      cases.add(
        `${def.id}.error`,
        'The check runs',
        fail(`the check stopped on an unexpected ${safeName(e)}`),
        at(),
      );
    }
  } finally {
    // Ends whatever the check left in flight, so nothing of it runs into the next check.
    ac.abort();
  }
  const results = [...cases.results];
  const decider = worst(results);
  return {
    id: def.id,
    title: def.title,
    checklist: def.checklist,
    outcome: decider?.outcome ?? 'SKIP',
    evidence: decider?.evidence ?? 'no case selected',
    durationMs: Math.round(at()),
    cases: results,
  };
}

export async function runCheck(input: CheckOptions, hooks: RunHooks = {}): Promise<CheckReport> {
  const o = resolveOptions(input);
  const startedAt = Date.now();
  const checks: CheckResult[] = [];
  let sandbox: Sandbox | undefined;
  let app: AppProcess | undefined;
  let sandboxUrl = o.sandbox ?? '';
  const report = (error: string | null): CheckReport => {
    const summary = summarize(checks);
    return {
      schema: 'noon-connect.check/v1',
      startedAt: new Date(startedAt).toISOString(),
      durationMs: Date.now() - startedAt,
      app: { start: o.start.toString(), callback: o.callback.toString() },
      sandbox: { url: sandboxUrl, started: sandbox !== undefined },
      ok: error === null && summary.fail === 0,
      summary,
      error,
      checks,
    };
  };
  try {
    let linked: Linked;
    if (o.sandbox) linked = await linkExisting(o);
    else {
      const own = await startOwn(o);
      sandbox = own.sandbox;
      linked = own.linked;
    }
    sandboxUrl = linked.link.url;
    await linked.link.setSwitches({ ...CHECK_SWITCHES });
    const authorizeUrl = `${linked.link.url}/`;
    const config: AppConfig = {
      authorizeUrl,
      gatewayUrl: linked.link.url,
      clientId: linked.clientId,
      clientSecret: linked.clientSecret,
      keyFile: linked.keyFile,
      callback: o.callback.toString(),
      env: {
        NOON_ENV: 'custom',
        NOON_AUTHORIZE_URL: authorizeUrl,
        NOON_GATEWAY_URL: linked.link.url,
        NOON_CLIENT_ID: linked.clientId,
        NOON_CLIENT_SECRET: linked.clientSecret,
        ...(linked.keyFile ? { NOON_KEY_FILE: linked.keyFile } : {}),
        NOON_REDIRECT_URI: o.callback.toString(),
      },
    };
    hooks.onConfig?.(config);
    if (o.exec) app = startApp(o.exec, config.env);
    hooks.onWaiting?.(o.start);
    const notReady = await waitForApp(o, app);
    if (notReady) return report(notReady);

    const run = new Run(o, linked.link, linked.clientId, linked.clientSecret, new URL(authorizeUrl));
    run.useConnect((r) => connect(r));
    for (const file of o.logFiles)
      run.logs.push({ name: file, read: () => readFile(file, 'utf8').catch(() => '') });
    if (app) {
      const a = app;
      run.logs.push({ name: 'the output of --exec', read: async () => a.output() });
    }
    for (const def of CHECKS) {
      if (!selected(o, def.id)) continue;
      const r = await runOne(run, def);
      checks.push(r);
      hooks.onCheck?.(r);
    }
    return report(null);
  } catch (e) {
    if (e instanceof SandboxUnavailable) return report(e.message);
    if ((e as NodeJS.ErrnoException)?.code === 'EADDRINUSE')
      return report(`cannot start the sandbox: port ${o.sandboxPort} is in use (try --sandbox-port 0)`);
    throw e;
  } finally {
    await app?.stop();
    await sandbox?.close();
  }
}
