// Test plumbing for `noon-connect check`: one sandbox shared by a test file (each run has its own client, seller
// projects and scoped faults), the reference applications started as child processes with their log in a file,
// and the check command run in process with its output captured.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, openSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECK_SWITCHES, type CheckReport } from '../../src/check/index.js';
import { checkCommand } from '../../src/cli/check.js';
import { createConnector } from '../../src/connect/index.js';
import { createConnectHandler, toNodeListener } from '../../src/http/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { noonParts, startFromQuery } from '../helpers/harness.js';
import { freePort, listen } from '../helpers/net.js';
import { startSandbox } from '../helpers/sandbox.js';
import { freshStoreWithVault } from '../helpers/stores.js';

const APPS = join(process.cwd(), 'test', 'check', 'apps');
/**
 * How long the applications wait for Noon: long enough for an exchange that waits for a fresh RSA key on a busy
 * machine, well inside the checker's request deadline below (a hang case costs this long, twice for the connector,
 * which resends once).
 */
export const APP_TIMEOUT_MS = 3000;
/** The checker's options every run in the tests shares. */
export const RUN_ARGS = [
  '--timeout',
  '20000',
  '--check-timeout',
  '120000',
  '--wait',
  '30000',
  '--verify-login',
];

/**
 * One sandbox per test file, with the switches the checker sets. `readyKeys` keys are reserved before it starts
 * (about five per run: each finished connect and the reset exchange take one), so no exchange waits on key
 * generation and an application's timeout never turns into a false failure.
 */
export function checkSandbox(readyKeys: number): Promise<Sandbox> {
  return startSandbox({ readyKeys, switches: { ...CHECK_SWITCHES } });
}

/** Runs `work` over the items, at most `limit` at a time. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

export interface AppUnderCheck {
  start: string;
  callback: string;
  clientId: string;
  logFile: string;
  stop(): Promise<void>;
}

/** A port, a client registered for its callback, and a log file: what every application under check needs. */
export async function prepareApp(sb: Sandbox, name: string) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const callback = `${origin}/connect/callback`;
  const client = sb.addClient({
    client_id: `${name}-${randomBytes(3).toString('hex')}`,
    name: `Reference ${name}`,
    redirect_uris: [callback],
  });
  const logFile = join(mkdtempSync(join(tmpdir(), 'nc-check-')), 'app.log');
  const env = {
    NOON_AUTHORIZE_URL: sb.authorizeUrl,
    NOON_GATEWAY_URL: sb.gatewayUrl,
    NOON_CLIENT_ID: client.clientId,
    NOON_CLIENT_SECRET: client.clientSecret,
    NOON_KEY_FILE: sb.fixtures.integrator.keyFile!,
  };
  return { port, origin, callback, start: `${origin}/connect/start`, client, logFile, env };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Starts a reference application (TypeScript or Python) with one defect or none. */
export async function startReferenceApp(
  sb: Sandbox,
  lang: 'ts' | 'py',
  defect = 'none',
): Promise<AppUnderCheck> {
  const p = await prepareApp(sb, `${lang}-${defect}`);
  const fd = openSync(p.logFile, 'a');
  const [cmd, args] =
    lang === 'ts'
      ? [process.execPath, ['--import', 'tsx', join(APPS, 'reference-app.ts')]]
      : ['python3', [join(APPS, 'reference_app.py')]];
  const child = spawn(cmd, args, {
    env: {
      ...process.env,
      ...p.env,
      PORT: String(p.port),
      APP_DEFECT: defect,
      APP_TIMEOUT_MS: String(APP_TIMEOUT_MS),
    },
    stdio: ['ignore', fd, fd],
  });
  return {
    start: p.start,
    callback: p.callback,
    clientId: p.client.clientId,
    logFile: p.logFile,
    stop: () => stopChild(child),
  };
}

export interface CheckRun {
  code: number;
  report: CheckReport;
  out: string;
  err: string;
}

/** Runs `noon-connect check --json` in process against an application, with the shared sandbox. */
export async function runChecks(sb: Sandbox, app: AppUnderCheck, extra: string[] = []): Promise<CheckRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await checkCommand(
    [
      '--start',
      app.start,
      '--sandbox',
      sb.url,
      '--client-id',
      app.clientId,
      '--log',
      app.logFile,
      ...RUN_ARGS,
      '--json',
      ...extra,
    ],
    { out: (l) => out.push(l), err: (l) => err.push(l) },
  );
  return {
    code,
    report: JSON.parse(out.join('\n')) as CheckReport,
    out: out.join('\n'),
    err: err.join('\n'),
  };
}

/** Check ids by outcome. */
export function outcomes(report: CheckReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.id, c.outcome]));
}

/** Every case that did not pass, as `id OUTCOME: evidence`, for failure messages. */
export function notPassing(report: CheckReport): string[] {
  return report.checks.flatMap((c) =>
    c.cases.filter((k) => k.outcome !== 'PASS').map((k) => `${k.id} ${k.outcome}: ${k.evidence}`),
  );
}

/**
 * An application built on this package's own connector, through its public API only: createConnector,
 * createConnectHandler and toNodeListener, its log written to a file as JSON lines.
 */
export async function startConnectorApp(sb: Sandbox): Promise<AppUnderCheck> {
  const p = await prepareApp(sb, 'connector');
  const { store, vault, drop } = await freshStoreWithVault('sqlite');
  const log = (entry: unknown) => appendFileSync(p.logFile, `${JSON.stringify(entry)}\n`);
  const connector = await createConnector({
    noon: noonParts(sb, p.client.clientId, p.client.clientSecret, [], {
      timeoutMs: APP_TIMEOUT_MS,
      logger: log,
    }),
    store,
    vault,
    environment: 'sandbox',
    publicUrl: p.origin,
    logger: log,
  });
  const handler = createConnectHandler({ connector, authorizeStart: startFromQuery });
  const http = await listen(createHttpServer(toNodeListener(async (req) => handler(req))), p.port);
  return {
    start: p.start,
    callback: p.callback,
    clientId: p.client.clientId,
    logFile: p.logFile,
    async stop() {
      await http.close();
      await connector.drain();
      await store.close();
      await drop();
    },
  };
}

/** An application that accepts connections and never answers anything. */
export async function startHangingApp(sb: Sandbox): Promise<AppUnderCheck> {
  const p = await prepareApp(sb, 'hanging');
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.resume();
  });
  await new Promise<void>((r) => server.listen(p.port, '127.0.0.1', () => r()));
  return {
    start: p.start,
    callback: p.callback,
    clientId: p.client.clientId,
    logFile: p.logFile,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
