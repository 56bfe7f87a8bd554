// The seller's hot path, for bench/client.ts: what repeats for the life of a connection. Sellers are connected
// through a connector (SQLite, node:http adapter) against a sandbox, each in its own child process; then, in the
// connector's process:
// - seller calls (GET /catalog/v1/items) through `connector.sellerSession` (looked up per call, as a request
//   handler would) vs a raw undici Pool with its own login to the same endpoint, alternating chunks: calls/s and
//   the client process's CPU per call;
// - cold seller calls (a connection not used yet: decrypt, import the key, log in, call) vs a raw login + call,
//   one at a time: the overhead beyond the round trips a cold call cannot avoid;
// - the memory an idle cached seller session holds (logged in, one call made): the session cache's retained size
//   per entry in a heap snapshot of the connector's process, plus the native memory of its imported key, which
//   no heap snapshot sees.

import { join } from 'node:path';
import { Pool } from 'undici';
import { startChild } from './_child.js';
import type { SessionMemory } from './_connect-child.js';
import { adminPost, connectOnce, loopback } from './_flow.js';
import { fmt, percentile } from './_load.js';
import { record } from './_report.js';

const UA = 'noon-connect-bench/1.0';
const HOT = 8;
const COLD = Number(process.env.BENCH_COLD_CALLS ?? 30);
// HOT + COLD + MEMORY stay under the connector's session cache (100), so no session is evicted while memory is measured.
const MEMORY = Number(process.env.BENCH_SESSION_MEMORY ?? 50);
const CALLS = Number(process.env.BENCH_SELLER_CALLS ?? 4000);
const CHUNKS = 4;
const IN_FLIGHT = 16;
const KEY_CACHE = join(process.cwd(), 'node_modules', '.cache', 'noon-connect', 'bench-keys');

export async function runSellerPaths(): Promise<void> {
  const total = HOT + COLD + MEMORY;
  const sandbox = await startChild('./_sandbox-child.ts', ['sandbox']);
  const server = await startChild('./_connect-child.ts');
  try {
    const info = await sandbox.call('start-sandbox', {
      poolSize: total + 10,
      keyCacheDir: KEY_CACHE,
      sellers: total,
    });
    await sandbox.call('hold-refill', { hold: true });
    const { origin } = await server.call<{ origin: string }>('listen');
    const redirectUri = `${origin}/connect/callback`;
    const client = await adminPost(
      info.url,
      '/_sandbox/clients',
      { name: 'Bench Seller', redirect_uris: [redirectUri] },
      UA,
    );
    await server.call('connector', {
      store: 'sqlite',
      sandboxUrl: info.url,
      integratorKey: info.key,
      clientId: client.client_id,
      clientSecret: client.client_secret,
      origin,
    });
    const tenant = 'bench-seller';
    const cp = new Pool(loopback(origin), { connections: 8 });
    const sp = new Pool(loopback(info.url), { connections: 8 });
    const projects = Array.from({ length: total }, (_, i) => `PRJB${i}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (;;) {
          const i = next++;
          if (i >= total) return;
          const r = await connectOnce({
            connector: cp,
            sandbox: sp,
            startPath: `/connect/start?tenant=${tenant}`,
            clientId: client.client_id,
            projectCode: projects[i]!,
            redirectUri,
            userAgent: UA,
          });
          if (r.status !== 303 || !r.location.startsWith('/connect/done/'))
            throw new Error(`connect ${r.status}`);
        }
      }),
    );
    await cp.close();
    await sp.close();
    await sandbox.call('hold-refill', { hold: false });

    const hot = projects.slice(0, HOT);
    const cold = projects.slice(HOT, HOT + COLD);
    const idle = projects.slice(HOT + COLD);
    const args = { tenant, projects: hot, sandboxUrl: info.url, key: info.key, inFlight: IN_FLIGHT };
    type Run = { calls: number; ms: number; cpuUs: number };
    const sum = { session: { calls: 0, ms: 0, cpuUs: 0 }, raw: { calls: 0, ms: 0, cpuUs: 0 } };
    // Warm both (sessions logged in, pools connected), then alternate chunks.
    await server.call('seller-calls', { ...args, mode: 'raw', count: 500 });
    await server.call('seller-calls', { ...args, mode: 'session', count: 500 });
    for (let i = 0; i < CHUNKS; i++) {
      for (const mode of i % 2 === 0 ? (['raw', 'session'] as const) : (['session', 'raw'] as const)) {
        const r = await server.call<Run>('seller-calls', { ...args, mode, count: Math.ceil(CALLS / CHUNKS) });
        sum[mode].calls += r.calls;
        sum[mode].ms += r.ms;
        sum[mode].cpuUs += r.cpuUs;
      }
    }
    const rps = (r: Run) => r.calls / (r.ms / 1000);
    const cpu = (r: Run) => r.cpuUs / r.calls;
    const ratio = rps(sum.session) / rps(sum.raw);

    const c = await server.call<{ coldMs: number[]; rawMs: number[] }>('cold-calls', {
      tenant,
      projects: cold,
      sandboxUrl: info.url,
      key: info.key,
    });
    const overhead = percentile(c.coldMs, 50) - percentile(c.rawMs, 50);
    const mem = await server.call<SessionMemory>('session-memory', { tenant, projects: idle, key: info.key });
    // A key a cached session still holds (imported, used) costs native memory too: part of what an entry costs.
    const keyShare = (mem.keysHeld / mem.entries) * mem.keyNative.bytes;
    const perSession = mem.perEntry + keyShare;
    const kb = (bytes: number) => fmt(bytes / 1024, 2);
    console.log(
      `seller calls (GET /catalog/v1/items, ${HOT} connections, ${IN_FLIGHT} in flight, ${sum.raw.calls} calls each in ${CHUNKS} alternating chunks; client process CPU):`,
    );
    console.log(
      `  raw undici Pool.request          ${fmt(rps(sum.raw)).padStart(6)} calls/s   CPU ${fmt(cpu(sum.raw), 1)} µs/call`,
    );
    console.log(
      `  connector.sellerSession + call   ${fmt(rps(sum.session)).padStart(6)} calls/s   CPU ${fmt(cpu(sum.session), 1)} µs/call`,
    );
    console.log(
      `  ratio ${fmt(ratio, 2)}x (floor >= 0.8x, goal >= 0.95x) ${ratio >= 0.8 ? 'FLOOR MET' : 'FLOOR NOT MET'}`,
    );
    console.log(
      `cold seller call (${COLD} connections, one at a time): p50 ${fmt(percentile(c.coldMs, 50), 2)} ms vs raw login + call p50 ${fmt(percentile(c.rawMs, 50), 2)} ms: overhead ${fmt(overhead, 2)} ms (floor <= 5 ms, goal <= 2 ms)`,
    );
    console.log(
      `idle cached seller session: ${kb(perSession)} KB each (floor <= 16 KB, goal <= 4 KB) = ${kb(mem.perEntry)} KB V8 heap + ${kb(keyShare)} KB native key memory (${mem.keysHeld} imported keys held by ${mem.entries} cached sessions)`,
    );
    console.log(
      `  V8 heap: heap snapshot of the connector process, the session cache's retained size / its ${mem.entries} entries; each idle session alone (${mem.idle.n}, logged in, one call): min ${kb(mem.idle.min)} KB, median ${kb(mem.idle.median)} KB, max ${kb(mem.idle.max)} KB; shared between sessions ${kb(mem.shared)} KB; held outside the cache too: ${mem.heldElsewhere}`,
    );
    console.log(
      `  native: resident memory less heap grown per ${mem.keyNative.type} key parsed and used to sign a login, ${mem.keyNative.keys} keys a round, rounds ${mem.keyNative.rounds.map((b) => kb(b)).join(' / ')} KB (median taken)`,
    );
    record({
      bench: 'client',
      measure: 'seller call via sellerSession',
      value: rps(sum.session),
      unit: 'calls/s',
      baseline: { label: 'raw undici Pool.request, same endpoint', value: rps(sum.raw) },
      ratio,
      floor: '≥ 0.8×',
      goal: '≥ 0.95×',
      note: `CPU per call ${fmt(cpu(sum.session), 1)} µs vs ${fmt(cpu(sum.raw), 1)} µs raw; sellerSession looked up per call (a store read)`,
    });
    record({
      bench: 'client',
      measure: 'cold seller call overhead beyond login RTT',
      value: overhead,
      unit: 'ms',
      baseline: { label: 'raw login + call p50', value: percentile(c.rawMs, 50) },
      floor: '≤ 5 ms',
      goal: '≤ 2 ms',
      note: `p50 of ${COLD} cold calls (${fmt(percentile(c.coldMs, 50), 2)} ms) minus p50 raw login + call`,
    });
    record({
      bench: 'client',
      measure: 'idle cached seller session',
      value: perSession / 1024,
      unit: 'KB',
      floor: '≤ 16 KB',
      goal: '≤ 4 KB',
      note: `${kb(mem.perEntry)} KB V8 heap: heap snapshot of the connector process (after a full GC), retained size of its session cache (map, keys, each session and all it holds) ÷ its ${mem.entries} entries, each logged in with ≥ 1 call (an idle session alone: median ${kb(mem.idle.median)} KB); + ${kb(keyShare)} KB native key memory: ${mem.keysHeld} imported private keys held by the ${mem.entries} cached sessions × ${kb(mem.keyNative.bytes)} KB each for an ${mem.keyNative.type} key after signing, which no heap snapshot sees (RSS less heap per key, median of ${mem.keyNative.rounds.length} rounds of ${mem.keyNative.keys} keys)`,
    });
  } finally {
    await server.close();
    await sandbox.close();
  }
}
