// Client benchmark, loopback only, bounded in count and time. Side by side in one run:
//  - requests/s of session.request('GET', '/identity/v1/whoami') on a warm session vs raw undici Pool.request to
//    the same sandbox endpoint with the same cookies (goal: ≥ 0.8× the raw pool), and the client process's CPU
//    time per request for each;
//  - login latency p50/p99;
//  - login-JWT signs/s with the key imported once vs importing the PEM for every sign.
// The sandbox runs in a child process (this file with --sandbox-child) so the client has a core of its own.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import {
  createLoginJwt,
  type KeyFile,
  NoonClient,
  NoonSession,
  parseCredentials,
} from '../src/client/index.js';
import { runProxyPath } from './_proxy-path.js';
import { record } from './_report.js';
import { runSellerPaths } from './_seller-paths.js';

const UA = 'noon-connect-bench/1.0';
const CONNECTIONS = 16;
const CONCURRENCY = 64;
/** Raw and client alternate in chunks of this many requests, so drift on a shared machine hits both alike. */
const CHUNK = 2_000;
const CHUNKS = 12;
const TIME_LIMIT_MS = 20_000;
const LOGINS = 200;
const SIGN_MS = 1_000;
const GOAL = 0.8;

interface Child {
  url: string;
  keyFile: string;
  proc: ChildProcess;
}

async function startChild(): Promise<Child> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--sandbox-child'],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const timer = setTimeout(() => proc.kill(), 60_000);
  try {
    for await (const line of createInterface({ input: proc.stdout! })) {
      if (line.startsWith('{')) return { ...(JSON.parse(line) as { url: string; keyFile: string }), proc };
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error('the sandbox child exited before it was ready');
}

async function stopChild(child: Child): Promise<void> {
  child.proc.stdin!.end();
  await Promise.race([once(child.proc, 'exit'), new Promise((r) => setTimeout(r, 5_000))]);
  if (child.proc.exitCode === null) child.proc.kill();
}

interface Tally {
  requests: number;
  ms: number;
  /** CPU time of this (the client) process, µs. */
  cpuUs: number;
}

const newTally = (): Tally => ({ requests: 0, ms: 0, cpuUs: 0 });

/** Runs `count` calls of `one` with CONCURRENCY in flight, adding wall time and this process's CPU time. */
async function chunk(one: () => Promise<void>, count: number, tally: Tally): Promise<void> {
  let started = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async () => {
    while (started < count) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  tally.ms += performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  tally.cpuUs += cpu.user + cpu.system;
  tally.requests += count;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function perSecond(ms: number, fn: () => void): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const uuid = () => crypto.randomUUID();

export async function run(): Promise<void> {
  const child = await startChild();
  const client = new NoonClient({
    environment: { local: child.url },
    userAgent: UA,
    connections: CONNECTIONS,
  });
  const pool = new Pool(child.url, { connections: CONNECTIONS, pipelining: 1 });
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    const keyFile = JSON.parse(readFileSync(child.keyFile, 'utf8')) as KeyFile;
    const credentials = parseCredentials(keyFile);
    const session = new NoonSession(client, credentials);
    await session.whoami();

    // The raw baseline logs in by itself and sends the same headers: User-Agent, Accept and the cookies.
    const login = await pool.request({
      method: 'POST',
      path: '/identity/public/v1/api/login',
      headers: { 'user-agent': UA, 'content-type': 'application/json' },
      body: JSON.stringify({
        token: createLoginJwt(credentials, Date.now(), uuid),
        default_project_code: credentials.projectCode,
      }),
    });
    await login.body.text();
    const setCookie = login.headers['set-cookie'];
    const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? ''])
      .map((c) => c.split(';')[0])
      .join('; ');
    const rawHeaders = { 'user-agent': UA, accept: 'application/json', cookie };
    const raw = async () => {
      const r = await pool.request({ method: 'GET', path: '/identity/v1/whoami', headers: rawHeaders });
      const text = await r.body.text();
      if (r.statusCode !== 200 || text.length === 0) throw new Error(`raw whoami answered ${r.statusCode}`);
    };
    const ours = async () => {
      await session.request('GET', '/identity/v1/whoami');
    };

    // The sandbox journals every request; emptying it between chunks (untimed) keeps the server's cost flat.
    const clearJournal = async () => {
      const r = await pool.request({
        method: 'DELETE',
        path: '/_sandbox/journal',
        headers: { 'user-agent': UA },
      });
      await r.body.text();
    };
    await chunk(raw, CHUNK, newTally());
    await chunk(ours, CHUNK, newTally());
    const rawTally = newTally();
    const ourTally = newTally();
    const t0 = performance.now();
    for (let i = 0; i < CHUNKS && performance.now() - t0 < TIME_LIMIT_MS; i++) {
      await clearJournal();
      // Alternate which goes first, so neither always runs right after a journal clear.
      const order = i % 2 === 0 ? [raw, ours] : [ours, raw];
      for (const fn of order) await chunk(fn, CHUNK, fn === raw ? rawTally : ourTally);
    }
    const rawRps = rawTally.requests / (rawTally.ms / 1000);
    const ourRps = ourTally.requests / (ourTally.ms / 1000);
    const ratio = ourRps / rawRps;

    // Login latency: fresh logins one after another on one session.
    await clearJournal();
    const latencies: number[] = [];
    const l0 = performance.now();
    while (latencies.length < LOGINS && performance.now() - l0 < TIME_LIMIT_MS) {
      const s = performance.now();
      await session.login();
      latencies.push(performance.now() - s);
    }
    latencies.sort((a, b) => a - b);

    // JWT signing: the KeyObject imported once vs importing the PEM every time.
    const cached = perSecond(SIGN_MS, () => createLoginJwt(credentials, Date.now(), uuid));
    const reimport = perSecond(SIGN_MS, () => createLoginJwt(parseCredentials(keyFile), Date.now(), uuid));

    const perReq = (t: Tally) => (t.cpuUs / t.requests).toFixed(1);
    out(`sandbox in a child process at ${child.url}; ${CONNECTIONS} connections, ${CONCURRENCY} in flight`);
    out(
      `GET /identity/v1/whoami, warm session, ${fmt(rawTally.requests)} requests each in alternating chunks of ${fmt(CHUNK)}:`,
    );
    out(
      `  raw undici Pool.request        ${fmt(rawRps).padStart(7)} req/s   client CPU ${perReq(rawTally)} µs/request`,
    );
    out(
      `  session.request (noon client)  ${fmt(ourRps).padStart(7)} req/s   client CPU ${perReq(ourTally)} µs/request`,
    );
    out(`  ratio ${ratio.toFixed(2)}× (goal ≥ ${GOAL}×): ${ratio >= GOAL ? 'met' : 'NOT met'}`);
    out(
      `login latency, ${latencies.length} logins in a row: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`,
    );
    out(
      `login JWT signs/s: key imported once ${fmt(cached)}, PEM imported for each sign ${fmt(reimport)} (${(cached / reimport).toFixed(1)}×)`,
    );
    record({
      bench: 'client',
      measure: 'session.request (warm integrator session), GET whoami',
      value: ourRps,
      unit: 'req/s',
      baseline: { label: 'raw undici Pool.request, same cookies', value: rawRps },
      ratio,
      goal: `≥ ${GOAL}×`,
      note: `client CPU ${perReq(ourTally)} µs/request vs ${perReq(rawTally)} µs raw; ${CONCURRENCY} in flight`,
    });
    record({
      bench: 'client',
      measure: 'login latency p50',
      value: percentile(latencies, 50),
      unit: 'ms',
      note: `${latencies.length} logins in a row; p99 ${percentile(latencies, 99).toFixed(2)} ms`,
    });
    record({
      bench: 'client',
      measure: 'login JWT signs/s, key imported once',
      value: cached,
      unit: 'signs/s',
      baseline: { label: 'PEM imported for each sign', value: reimport },
      ratio: cached / reimport,
    });
  } finally {
    await client.close();
    await pool.close();
    await stopChild(child);
  }
  await runSellerPaths();
  await runProxyPath();
}

/** Child mode: a sandbox on a free loopback port until stdin closes. */
async function sandboxChild(): Promise<void> {
  const { createSandbox } = await import('../src/sandbox/index.js');
  const sb = await createSandbox({ poolSize: 1 });
  process.stdout.write(`${JSON.stringify({ url: sb.url, keyFile: sb.fixtures.integrator.keyFile })}\n`);
  process.stdin.resume();
  await once(process.stdin, 'end');
  await sb.close();
}

if (process.argv[2] === '--sandbox-child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  await sandboxChild();
}
