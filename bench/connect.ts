// `npm run bench -- connect`: the connector's figures, measured side by side in one run:
// - full connects/s (start → consent through the sandbox admin `POST /_sandbox/authorize` → callback → stored,
//   the seller's login and whoami included) on SQLite and on Postgres, each against a fresh sandbox whose key
//   pool is warm and larger than the number of connects, every connect for a distinct seller project (a
//   service account holds at most 5 keys);
// - forged-callback rejections/s through the node:http adapter, against a raw node:http server that answers
//   every request with a 302 (baseline; goal ≥ 0.5×), on SQLite, and on Postgres without a goal; with the
//   sandbox's count of token/create calls and the store's count of attempts checked unchanged (L1).
// Servers run in child processes, the load in this one (2 cores). Loopback only; bounded by count and time.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { startChild } from './_child.js';
import { adminPost, connectOnce, loopback } from './_flow.js';
import { fmt, type LoadResult, type PreparedRequest, percentile, runLoad } from './_load.js';

const UA = 'noon-connect-bench/1.0';
const CONNECTS = Number(process.env.BENCH_CONNECTS ?? 100);
const FLOWS_IN_FLIGHT = 8;
const FORGED = Number(process.env.BENCH_FORGED ?? 5000);
const WARMUP = 1000;
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
}

/**
 * Full connects as browsers would make them: each flow is start (keeps the binding cookie) → the sandbox's
 * admin consent → callback with the cookie; `inFlight` flows at once, each for its own seller project.
 */
async function runFlows(o: {
  connectorOrigin: string;
  sandboxUrl: string;
  clientId: string;
  redirectUri: string;
  projects: string[];
  tenant: string;
}): Promise<FlowResult> {
  const cp = new Pool(loopback(o.connectorOrigin), {
    connections: FLOWS_IN_FLIGHT,
    keepAliveTimeout: 30_000,
  });
  const sp = new Pool(loopback(o.sandboxUrl), { connections: FLOWS_IN_FLIGHT, keepAliveTimeout: 30_000 });
  const deadline = performance.now() + FLOW_TIME_LIMIT_MS;
  const latenciesMs: number[] = [];
  const other: Record<string, number> = {};
  let connected = 0;
  let errors = 0;
  let next = 0;
  async function one(project: string): Promise<void> {
    const r = await connectOnce({
      connector: cp,
      sandbox: sp,
      startPath: `/connect/start?tenant=${o.tenant}`,
      clientId: o.clientId,
      projectCode: project,
      redirectUri: o.redirectUri,
      userAgent: UA,
    });
    if (r.status === 303 && r.location.startsWith('/connect/done/')) connected++;
    else other[r.status] = (other[r.status] ?? 0) + 1;
  }
  const started = performance.now();
  async function worker(): Promise<void> {
    for (;;) {
      const i = next++;
      if (i >= o.projects.length || performance.now() > deadline) return;
      const t0 = performance.now();
      try {
        await one(o.projects[i]!);
      } catch {
        errors++;
      }
      latenciesMs.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: FLOWS_IN_FLIGHT }, () => worker()));
  const seconds = (performance.now() - started) / 1000;
  await cp.close();
  await sp.close();
  return { connected, other, errors, seconds, latenciesMs };
}

interface StoreRun {
  store: 'sqlite' | 'postgres';
  flows: FlowResult;
  stored: { active: number; credentials: number };
  ledger: number;
  poolReadyBefore: number;
  forged: LoadResult;
  forgedCreates: number;
  attemptsGrew: number;
}

/** One store: a fresh sandbox and connector; forged callbacks first (sandbox idle, pool full), then connects. */
async function measureStore(store: 'sqlite' | 'postgres', baselineOrigin: string) {
  const sandbox = await startChild('./_sandbox-child.ts', ['sandbox']);
  const server = await startChild('./_connect-child.ts');
  try {
    const info = await sandbox.call('start-sandbox', {
      poolSize: CONNECTS + 10,
      keyCacheDir: KEY_CACHE,
      sellers: CONNECTS,
    });
    const { origin } = await server.call<{ origin: string }>('listen');
    const redirectUri = `${origin}/connect/callback`;
    const client = await adminPost(
      info.url,
      '/_sandbox/clients',
      {
        name: `Bench Connect (${store})`,
        redirect_uris: [redirectUri],
      },
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

    const pool = await sandbox.call('pool');
    const projects = Array.from({ length: CONNECTS }, (_, i) => `PRJB${i}`);
    const flows = await runFlows({
      connectorOrigin: origin,
      sandboxUrl: info.url,
      clientId: client.client_id,
      redirectUri,
      projects,
      tenant: `bench-${store}`,
    });
    const stored = await server.call('counts');
    const sbCounts = await sandbox.call('counts');
    const best = (xs: LoadResult[], status: number) =>
      xs.reduce((a, b) => (rate(b, status) > rate(a, status) ? b : a));
    const run: StoreRun = {
      store,
      flows,
      stored,
      ledger: sbCounts.credentials,
      poolReadyBefore: pool.ready,
      forged: best(forgedRuns, 400),
      forgedCreates: createsAfter - createsBefore,
      attemptsGrew: attemptsAfter - attemptsBefore,
    };
    return { run, baseline: best(baseRuns, 302) };
  } finally {
    await server.close();
    await sandbox.close();
  }
}

export async function run(): Promise<void> {
  const baseline = await startChild('./_connect-child.ts');
  const runs: StoreRun[] = [];
  let base: LoadResult | undefined;
  let pgSkipped = false;
  try {
    const { origin: baselineOrigin } = await baseline.call<{ origin: string }>('baseline');
    const sqlite = await measureStore('sqlite', baselineOrigin);
    runs.push(sqlite.run);
    base = sqlite.baseline;
    if (await postgresUp()) runs.push((await measureStore('postgres', baselineOrigin)).run);
    else pgSkipped = true;
  } finally {
    await baseline.close();
  }

  console.log(
    `full connects (${CONNECTS} distinct seller projects, ${FLOWS_IN_FLIGHT} flows in flight, warm key pool): start -> POST /_sandbox/authorize -> callback -> stored`,
  );
  for (const r of runs) {
    const f = r.flows;
    console.log(
      `  ${r.store.padEnd(9)} ${fmt(f.connected / f.seconds, 1).padStart(7)} connects/s  p50 ${fmt(percentile(f.latenciesMs, 50), 1)} ms  p99 ${fmt(percentile(f.latenciesMs, 99), 1)} ms  (connected ${f.connected}/${CONNECTS}, other ${JSON.stringify(f.other)}, errors ${f.errors}; stored: ${r.stored.active} active connections, ${r.stored.credentials} keys; sandbox ledger ${r.ledger}; pool ready before: ${r.poolReadyBefore})`,
    );
  }
  if (runs.length === 2) {
    const [s, p] = runs as [StoreRun, StoreRun];
    console.log(
      `  postgres/sqlite ${fmt(p.flows.connected / p.flows.seconds / (s.flows.connected / s.flows.seconds), 2)}x`,
    );
  }
  if (pgSkipped) console.log(`  postgres  skipped: no server at ${PG_URL.replace(/\/\/[^@]*@/, '//')}`);

  console.log(
    `forged callbacks (${FORGED} per round, best of 2 rounds, ${IN_FLIGHT} in flight; real binding cookie, state never issued)`,
  );
  const b = base!;
  console.log(
    `  raw node:http 302 (baseline)   ${fmt(rate(b, 302)).padStart(6)} req/s         p99 ${fmt(percentile(b.latenciesMs, 99), 2)} ms  (302: ${b.statuses[302] ?? 0}, errors ${b.errors})`,
  );
  for (const r of runs) {
    const f = r.forged;
    console.log(
      `  node:http adapter, ${r.store.padEnd(9)}   ${fmt(rate(f, 400)).padStart(6)} rejections/s  p99 ${fmt(percentile(f.latenciesMs, 99), 2)} ms  (400: ${f.statuses[400] ?? 0}, other: ${JSON.stringify(Object.fromEntries(Object.entries(f.statuses).filter(([k]) => k !== '400')))}, errors ${f.errors}; token/create at the sandbox: ${r.forgedCreates}; attempts added: ${r.attemptsGrew})`,
    );
  }
  const s = runs[0]!;
  const ratio = rate(s.forged, 400) / rate(b, 302);
  console.log(`  sqlite ratio ${fmt(ratio, 2)}x (goal >= 0.5x) ${ratio >= 0.5 ? 'MET' : 'NOT MET'}`);
  if (runs[1]) console.log(`  postgres ratio ${fmt(rate(runs[1].forged, 400) / rate(b, 302), 2)}x (no goal)`);
}
