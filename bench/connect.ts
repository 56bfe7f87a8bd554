// `npm run bench -- connect`: the connector's figures, measured side by side in one run:
// - full connects/s (start → consent through the sandbox admin `POST /_sandbox/authorize` → callback → stored,
//   the seller's login and whoami included) against the naive integrator (bench/_naive-child.ts: Express 5,
//   express-session, axios; token/create then token/exchange, keeps nothing), both through the same sandbox
//   with the same driver, in alternating rounds, every connect for a distinct seller project (a service account
//   holds at most 5 keys), the sandbox's key pool warm and its refill held while connects run; with p50/p99 and
//   the CPU each connect costs the app process and the sandbox process (process.cpuUsage in each child);
//   SQLite, then Postgres beside it;
// - the sandbox's CPU for the key check alone (seller login + whoami, through healthCheck);
// - forged-callback rejections/s through the node:http adapter, against a raw node:http server that answers
//   every request with a 302 (baseline; goal ≥ 0.5×), on SQLite, and on Postgres without a goal; with the
//   sandbox's count of token/create calls and the store's count of attempts checked unchanged (L1).
// Servers run in child processes, the load in this one (2 cores). Loopback only; bounded by count and time.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { type Child, startChild } from './_child.js';
import { adminPost, connectOnce, loopback } from './_flow.js';
import { fmt, type LoadResult, type PreparedRequest, percentile, runLoad } from './_load.js';
import { record } from './_report.js';

const UA = 'noon-connect-bench/1.0';
/** Connects per app and store (each app gets this many, split over ROUNDS alternating rounds). */
const CONNECTS = Number(process.env.BENCH_CONNECTS ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FLOWS_IN_FLIGHT = Number(process.env.BENCH_FLOWS_IN_FLIGHT ?? 16);
const KEY_CHECKS = Number(process.env.BENCH_KEY_CHECKS ?? 100);
const FORGED = Number(process.env.BENCH_FORGED ?? 5000);
const WARMUP = Number(process.env.BENCH_FORGED_WARMUP ?? 1000);
const IN_FLIGHT = 32;
const FLOW_TIME_LIMIT_MS = 120_000;
const KEY_CACHE = join(process.cwd(), 'node_modules', '.cache', 'noon-connect', 'bench-keys');
const PG_URL = process.env.NOON_CONNECT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function postgresUp(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/** How many token/create calls the sandbox has seen, whatever their answer (from its request journal). */
async function tokenCreates(sandboxUrl: string): Promise<number> {
  const r = await fetch(`${loopback(sandboxUrl)}/_sandbox/journal?endpoint=token.create`, {
    headers: { 'user-agent': UA },
  });
  return ((await r.json()) as { entries: unknown[] }).entries.length;
}

/** A state of the right shape that the connector never issued. */
function forgedState(): string {
  const part = () => randomBytes(16).toString('base64url');
  return `${part()}.${part()}.${part()}`;
}

function forgedRequests(n: number, cookie: string): PreparedRequest[] {
  return Array.from({ length: n }, () => ({
    method: 'GET' as const,
    path: `/connect/callback?code=${randomBytes(24).toString('base64url')}&state=${forgedState()}`,
    headers: { cookie, 'user-agent': UA },
  }));
}

function rate(r: LoadResult, status: number): number {
  return (r.statuses[status] ?? 0) / r.seconds;
}

interface FlowResult {
  connected: number;
  other: Record<string, number>;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  /** CPU µs spent by the app process and by the sandbox process over the flows. */
  appCpuUs: number;
  sandboxCpuUs: number;
}

const cpuUs = (u: { user: number; system: number }) => u.user + u.system;

/**
 * Full connects as browsers would make them: each flow is start (keeps the session/binding cookie) → the
 * sandbox's admin consent → callback with the cookie; `inFlight` flows at once, each for its own seller project.
 * The same driver for both apps; only the start path and the success answer differ.
 */
async function runFlows(o: {
  app: Child;
  sandbox: Child;
  appOrigin: string;
  sandboxUrl: string;
  clientId: string;
  redirectUri: string;
  projects: string[];
  startPath: string;
  success: (status: number, location: string) => boolean;
}): Promise<FlowResult> {
  const cp = new Pool(loopback(o.appOrigin), { connections: FLOWS_IN_FLIGHT, keepAliveTimeout: 30_000 });
  const sp = new Pool(loopback(o.sandboxUrl), { connections: FLOWS_IN_FLIGHT, keepAliveTimeout: 30_000 });
  const deadline = performance.now() + FLOW_TIME_LIMIT_MS;
  const latenciesMs: number[] = [];
  const other: Record<string, number> = {};
  let connected = 0;
  let errors = 0;
  let next = 0;
  const app0 = cpuUs(await o.app.call('cpu'));
  const sb0 = cpuUs(await o.sandbox.call('cpu'));
  const started = performance.now();
  async function worker(): Promise<void> {
    for (;;) {
      const i = next++;
      if (i >= o.projects.length || performance.now() > deadline) return;
      const t0 = performance.now();
      try {
        const r = await connectOnce({
          connector: cp,
          sandbox: sp,
          startPath: o.startPath,
          clientId: o.clientId,
          projectCode: o.projects[i]!,
          redirectUri: o.redirectUri,
          userAgent: UA,
        });
        if (o.success(r.status, r.location)) connected++;
        else other[r.status] = (other[r.status] ?? 0) + 1;
      } catch {
        errors++;
      }
      latenciesMs.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: FLOWS_IN_FLIGHT }, () => worker()));
  const seconds = (performance.now() - started) / 1000;
  const appCpuUs = cpuUs(await o.app.call('cpu')) - app0;
  const sandboxCpuUs = cpuUs(await o.sandbox.call('cpu')) - sb0;
  await cp.close();
  await sp.close();
  return { connected, other, errors, seconds, latenciesMs, appCpuUs, sandboxCpuUs };
}

function sumFlows(xs: FlowResult[]): FlowResult {
  const other: Record<string, number> = {};
  for (const x of xs) for (const [k, v] of Object.entries(x.other)) other[k] = (other[k] ?? 0) + v;
  return {
    connected: xs.reduce((a, x) => a + x.connected, 0),
    other,
    errors: xs.reduce((a, x) => a + x.errors, 0),
    seconds: xs.reduce((a, x) => a + x.seconds, 0),
    latenciesMs: xs.flatMap((x) => x.latenciesMs),
    appCpuUs: xs.reduce((a, x) => a + x.appCpuUs, 0),
    sandboxCpuUs: xs.reduce((a, x) => a + x.sandboxCpuUs, 0),
  };
}

interface StoreRun {
  store: 'sqlite' | 'postgres';
  flows: FlowResult;
  naive: FlowResult;
  stored: { active: number; credentials: number };
  keyCheckSandboxUs: number;
  keyChecks: number;
  forged: LoadResult;
  forgedCreates: number;
  attemptsGrew: number;
  baseline: LoadResult;
}

let projectSeq = 0;
const nextProjects = (n: number) => Array.from({ length: n }, () => `PRJB${projectSeq++}`);

/**
 * One store: a connector and a naive integrator against the shared sandbox; forged callbacks first (sandbox
 * idle), then connects in alternating rounds, then the key check alone.
 */
async function measureStore(
  store: 'sqlite' | 'postgres',
  sandbox: Child,
  info: { url: string; key: any },
  baselineOrigin: string,
): Promise<StoreRun> {
  const server = await startChild('./_connect-child.ts');
  const naive = await startChild('./_naive-child.ts');
  try {
    const { origin } = await server.call<{ origin: string }>('listen');
    const { origin: naiveOrigin } = await naive.call<{ origin: string }>('listen');
    const redirectUri = `${origin}/connect/callback`;
    const naiveRedirect = `${naiveOrigin}/connect/callback`;
    const client = await adminPost(
      info.url,
      '/_sandbox/clients',
      { name: `Bench Connect (${store})`, redirect_uris: [redirectUri, naiveRedirect] },
      UA,
    );
    await server.call('connector', {
      store,
      sandboxUrl: info.url,
      integratorKey: info.key,
      clientId: client.client_id,
      clientSecret: client.client_secret,
      origin,
    });
    await naive.call('configure', {
      sandboxUrl: info.url,
      integratorKey: info.key,
      clientId: client.client_id,
      clientSecret: client.client_secret,
    });

    // Forged callbacks carry a real binding cookie (from one real start), so each one costs the state's MAC check.
    const start = await fetch(`${origin}/connect/start?tenant=bench-forged`, { redirect: 'manual' });
    const cookie = start.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    await start.arrayBuffer();
    const createsBefore = await tokenCreates(info.url);
    const attemptsBefore = (await server.call('counts')).attempts;
    await runLoad(origin, forgedRequests(WARMUP, cookie), IN_FLIGHT);
    await runLoad(baselineOrigin, forgedRequests(WARMUP, cookie), IN_FLIGHT);
    // Two rounds, adapter and baseline alternating; the better round of each counts.
    const forgedRuns: LoadResult[] = [];
    const baseRuns: LoadResult[] = [];
    for (let round = 0; round < 2; round++) {
      forgedRuns.push(await runLoad(origin, forgedRequests(FORGED, cookie), IN_FLIGHT));
      baseRuns.push(await runLoad(baselineOrigin, forgedRequests(FORGED, cookie), IN_FLIGHT));
    }
    const createsAfter = await tokenCreates(info.url);
    const attemptsAfter = (await server.call('counts')).attempts;

    const tenant = `bench-${store}`;
    const flowsOf = (app: 'connector' | 'naive', n: number) =>
      app === 'connector'
        ? runFlows({
            app: server,
            sandbox,
            appOrigin: origin,
            sandboxUrl: info.url,
            clientId: client.client_id,
            redirectUri,
            projects: nextProjects(n),
            startPath: `/connect/start?tenant=${tenant}`,
            success: (st, loc) => st === 303 && loc.startsWith('/connect/done/'),
          })
        : runFlows({
            app: naive,
            sandbox,
            appOrigin: naiveOrigin,
            sandboxUrl: info.url,
            clientId: client.client_id,
            redirectUri: naiveRedirect,
            projects: nextProjects(n),
            startPath: '/connect/start',
            success: (st) => st === 200,
          });
    // A short warm-up of each (JIT, connection pools, the integrator's login), then alternating rounds.
    const warm = Math.min(16, Math.max(1, Math.floor(CONNECTS / 20)));
    await flowsOf('connector', warm);
    await flowsOf('naive', warm);
    const ours: FlowResult[] = [];
    const theirs: FlowResult[] = [];
    const perRound = Math.ceil(CONNECTS / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      const n = Math.min(perRound, CONNECTS - round * perRound);
      if (n <= 0) break;
      if (round % 2 === 0) {
        ours.push(await flowsOf('connector', n));
        theirs.push(await flowsOf('naive', n));
      } else {
        theirs.push(await flowsOf('naive', n));
        ours.push(await flowsOf('connector', n));
      }
    }
    const stored = await server.call('counts');
    // The key check alone: seller login + whoami with a stored key (healthCheck logs in afresh every time).
    const sb0 = cpuUs(await sandbox.call('cpu'));
    const keyChecks = await server.call<number>('key-check', { tenant, count: KEY_CHECKS });
    const keyCheckSandboxUs = cpuUs(await sandbox.call('cpu')) - sb0;
    return {
      store,
      flows: sumFlows(ours),
      naive: sumFlows(theirs),
      stored,
      keyCheckSandboxUs,
      keyChecks,
      forged: best(forgedRuns, 400),
      forgedCreates: createsAfter - createsBefore,
      attemptsGrew: attemptsAfter - attemptsBefore,
      baseline: best(baseRuns, 302),
    };
  } finally {
    await naive.close();
    await server.close();
  }
}

function best(xs: LoadResult[], status: number): LoadResult {
  return xs.reduce((a, b) => (rate(b, status) > rate(a, status) ? b : a));
}

export async function run(): Promise<void> {
  const wantPg = await postgresUp();
  const stores: ('sqlite' | 'postgres')[] = wantPg ? ['sqlite', 'postgres'] : ['sqlite'];
  const warm = Math.min(16, Math.max(1, Math.floor(CONNECTS / 20)));
  const keysNeeded = stores.length * 2 * (CONNECTS + warm) + 10;
  const baseline = await startChild('./_connect-child.ts');
  const sandbox = await startChild('./_sandbox-child.ts', ['sandbox']);
  const runs: StoreRun[] = [];
  try {
    const { origin: baselineOrigin } = await baseline.call<{ origin: string }>('baseline');
    const info = await sandbox.call('start-sandbox', {
      poolSize: keysNeeded,
      keyCacheDir: KEY_CACHE,
      sellers: keysNeeded,
    });
    // The pool is full: hold its refill so no key generation runs while connects are measured.
    await sandbox.call('hold-refill', { hold: true });
    for (const store of stores) runs.push(await measureStore(store, sandbox, info, baselineOrigin));
    await sandbox.call('hold-refill', { hold: false });
  } finally {
    await sandbox.close();
    await baseline.close();
  }
  report(runs, wantPg);
}

function report(runs: StoreRun[], pgRan: boolean): void {
  console.log(
    `full connects (${CONNECTS} per app and store, distinct seller projects, ${FLOWS_IN_FLIGHT} in flight, ${ROUNDS} alternating rounds, warm key pool, refill held): start -> POST /_sandbox/authorize -> callback`,
  );
  const line = (label: string, f: FlowResult, extra: string) =>
    console.log(
      `  ${label.padEnd(30)} ${fmt(f.connected / f.seconds, 1).padStart(6)} connects/s  p50 ${fmt(percentile(f.latenciesMs, 50), 1)} ms  p99 ${fmt(percentile(f.latenciesMs, 99), 1)} ms  CPU/connect: app ${fmt(f.appCpuUs / 1000 / Math.max(1, f.connected), 2)} ms, sandbox ${fmt(f.sandboxCpuUs / 1000 / Math.max(1, f.connected), 2)} ms  (ok ${f.connected}, other ${JSON.stringify(f.other)}, errors ${f.errors})${extra}`,
    );
  const perS = (f: FlowResult) => f.connected / f.seconds;
  const appMs = (f: FlowResult) => f.appCpuUs / 1000 / Math.max(1, f.connected);
  const sbMs = (f: FlowResult) => f.sandboxCpuUs / 1000 / Math.max(1, f.connected);
  for (const r of runs) {
    line(`naive integrator (${r.store} run)`, r.naive, '');
    line(
      `connector, ${r.store}`,
      r.flows,
      `; stored ${r.stored.active} active, ${r.stored.credentials} keys`,
    );
    const ratio = perS(r.flows) / perS(r.naive);
    const cpuRatio = appMs(r.flows) / appMs(r.naive);
    console.log(
      `  ${r.store}: connects/s ${fmt(ratio, 2)}x the naive integrator (floor >= 1.0x, goal >= 1.2x) ${ratio >= 1 ? 'FLOOR MET' : 'FLOOR NOT MET'}; app CPU ${fmt(cpuRatio, 2)}x (goal <= 0.5x); key check at the sandbox ${fmt(r.keyCheckSandboxUs / 1000 / Math.max(1, r.keyChecks), 3)} ms (login + whoami, ${r.keyChecks} checks; goal <= 0.5 ms)`,
    );
    const naiveNote =
      'Express 5 + express-session (memory) + axios; token/create + token/exchange, keeps nothing';
    const note = `${r.flows.connected} connects per app, ${FLOWS_IN_FLIGHT} in flight, ${ROUNDS} alternating rounds; p50 ${fmt(percentile(r.flows.latenciesMs, 50), 1)} ms / p99 ${fmt(percentile(r.flows.latenciesMs, 99), 1)} ms vs ${fmt(percentile(r.naive.latenciesMs, 50), 1)} / ${fmt(percentile(r.naive.latenciesMs, 99), 1)} ms`;
    const isSqlite = r.store === 'sqlite';
    record({
      bench: 'connect',
      measure: `full connects/s, default options, ${isSqlite ? 'SQLite' : 'Postgres'}`,
      value: perS(r.flows),
      unit: 'connects/s',
      baseline: { label: `naive integrator (${naiveNote})`, value: perS(r.naive) },
      ratio,
      ...(isSqlite ? { floor: '≥ 1.0×', goal: '≥ 1.2×' } : {}),
      note,
    });
    record({
      bench: 'connect',
      measure: `app CPU per connect, ${isSqlite ? 'SQLite' : 'Postgres'}`,
      value: appMs(r.flows),
      unit: 'ms',
      baseline: { label: "the naive integrator's", value: appMs(r.naive) },
      ratio: cpuRatio,
      floor: 'report',
      ...(isSqlite ? { goal: '≤ 0.5× (lower is better)' } : {}),
      note: 'process.cpuUsage of the app process over the measured rounds, per successful connect',
    });
    record({
      bench: 'connect',
      measure: `sandbox CPU per connect, ${isSqlite ? 'SQLite' : 'Postgres'} run`,
      value: sbMs(r.flows),
      unit: 'ms',
      baseline: { label: "the naive integrator's connects", value: sbMs(r.naive) },
      ratio: sbMs(r.flows) / sbMs(r.naive),
      floor: 'report',
      note: 'the connector also has the sandbox check the new key (seller login + whoami); pool refill held',
    });
    if (isSqlite)
      record({
        bench: 'connect',
        measure: 'sandbox CPU for the key check (login + whoami), pool refill excluded',
        value: r.keyCheckSandboxUs / 1000 / Math.max(1, r.keyChecks),
        unit: 'ms',
        floor: 'report',
        goal: '≤ 0.5 ms',
        note: `${r.keyChecks} health checks (a fresh seller login + whoami each), sandbox process CPU`,
      });
  }
  if (runs.length === 2) {
    const [s, p] = runs as [StoreRun, StoreRun];
    console.log(`  postgres/sqlite ${fmt(perS(p.flows) / perS(s.flows), 2)}x`);
  }
  if (!pgRan) console.log(`  postgres  skipped: no server at ${PG_URL.replace(/\/\/[^@]*@/, '//')}`);

  console.log(
    `forged callbacks (${FORGED} per round, best of 2 rounds, ${IN_FLIGHT} in flight; real binding cookie, state never issued)`,
  );
  for (const r of runs) {
    const b = r.baseline;
    const f = r.forged;
    console.log(
      `  raw node:http 302 (baseline)   ${fmt(rate(b, 302)).padStart(6)} req/s         p99 ${fmt(percentile(b.latenciesMs, 99), 2)} ms  (302: ${b.statuses[302] ?? 0}, errors ${b.errors})`,
    );
    console.log(
      `  node:http adapter, ${r.store.padEnd(9)}   ${fmt(rate(f, 400)).padStart(6)} rejections/s  p99 ${fmt(percentile(f.latenciesMs, 99), 2)} ms  (400: ${f.statuses[400] ?? 0}, other: ${JSON.stringify(Object.fromEntries(Object.entries(f.statuses).filter(([k]) => k !== '400')))}, errors ${f.errors}; token/create at the sandbox: ${r.forgedCreates}; attempts added: ${r.attemptsGrew})`,
    );
    const ratio = rate(f, 400) / rate(b, 302);
    console.log(
      `  ${r.store} ratio ${fmt(ratio, 2)}x${r.store === 'sqlite' ? ` (goal >= 0.5x) ${ratio >= 0.5 ? 'MET' : 'NOT MET'}` : ' (no goal)'}`,
    );
    record({
      bench: 'connect',
      measure: `forged callbacks rejected/s, node:http adapter, ${r.store === 'sqlite' ? 'SQLite' : 'Postgres'}`,
      value: rate(f, 400),
      unit: 'req/s',
      baseline: { label: 'raw node:http server answering 302', value: rate(b, 302) },
      ratio,
      ...(r.store === 'sqlite' ? { goal: '≥ 0.5×' } : {}),
      note: `token/create calls caused: ${r.forgedCreates}; attempts added: ${r.attemptsGrew}`,
    });
  }
}
