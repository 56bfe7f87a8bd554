// A seller call through the service's REST API, for bench/client.ts: the service (`createService`, SQLite) in one
// child process, the sandbox in another, a few sellers connected through connect links the API made; then from
// this process, in alternating chunks,
// - `POST /api/connections/{id}/proxy` with `{ "method": "GET", "path": "/catalog/v1/items" }` and the API's bearer
//   token (the proxy: bearer check, connection read, the seller's cached session, the call, the audit record, the
//   log line), round robin over the connections;
// - the raw baseline of the sellerSession row: an undici Pool logged in with its own key, calling the sandbox's
//   `/catalog/v1/items` itself;
// calls/s of each, their ratio, and CPU per call: the service process's for the proxy (this process's, as the
// API's client, beside it), this process's for raw. Loopback only; bounded in count and time.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Pool } from 'undici';
import { startChild } from './_child.js';
import { connectOnce, loopback } from './_flow.js';
import { fmt } from './_load.js';
import { CATALOG, type RawSeller, rawCall, rawLogin } from './_raw-seller.js';
import { record } from './_report.js';

const UA = 'noon-connect-bench/1.0';
const SELLERS = 8;
const CALLS = Number(process.env.BENCH_PROXY_CALLS ?? 3000);
const CHUNKS = 4;
const IN_FLIGHT = 16;
const WARM = Math.min(500, CALLS);
/** The measured chunks stop starting after this long (each chunk already started finishes). */
const TIME_LIMIT_MS = 60_000;
const KEY_CACHE = join(process.cwd(), 'node_modules', '.cache', 'noon-connect', 'bench-keys');

interface Tally {
  calls: number;
  ms: number;
  /** CPU time of this process (the caller), µs. */
  cpuUs: number;
  /** CPU time of the service's process, µs (proxy chunks only). */
  serviceCpuUs: number;
}

const tally = (): Tally => ({ calls: 0, ms: 0, cpuUs: 0, serviceCpuUs: 0 });
const cpuUs = (c: NodeJS.CpuUsage) => c.user + c.system;

/** `count` calls of `one`, IN_FLIGHT at once; wall time and this process's CPU time added to `t`. */
async function chunk(one: (i: number) => Promise<void>, count: number, t: Tally): Promise<void> {
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        await one(i);
      }
    }),
  );
  t.ms += performance.now() - t0;
  t.cpuUs += cpuUs(process.cpuUsage(cpu0));
  t.calls += count;
}

export async function runProxyPath(): Promise<void> {
  const sandbox = await startChild('./_sandbox-child.ts', ['sandbox']);
  const service = await startChild('./_service-child.ts');
  let api: Pool | undefined;
  let sp: Pool | undefined;
  let raw: RawSeller | undefined;
  try {
    const info = await sandbox.call('start-sandbox', {
      poolSize: SELLERS + 10,
      keyCacheDir: KEY_CACHE,
      sellers: SELLERS,
    });
    await sandbox.call('hold-refill', { hold: true });
    // The integrator's backend holds the API token; it goes to the service as its configured one.
    const token = randomBytes(32).toString('base64url');
    const svc = await service.call<{ url: string; clientId: string }>('start', {
      sandboxUrl: info.url,
      key: info.key,
      apiToken: token,
      userAgent: UA,
    });
    api = new Pool(loopback(svc.url), { connections: IN_FLIGHT, keepAliveTimeout: 30_000 });
    sp = new Pool(loopback(info.url), { connections: 4 });
    const apiHeaders = { authorization: `Bearer ${token}`, 'user-agent': UA };
    const apiCall = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> => {
      const r = await api!.request({
        method,
        path,
        headers: body === undefined ? apiHeaders : { ...apiHeaders, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.body.text();
      if (r.statusCode >= 300) throw new Error(`${method} ${path} answered ${r.statusCode}: ${text}`);
      return JSON.parse(text);
    };

    // Sellers connect as they would: a connect link from the API, opened in a browser, consent, callback.
    const tenant = 'bench-proxy';
    for (let i = 0; i < SELLERS; i++) {
      const link = new URL((await apiCall('POST', '/api/connect-links', { tenant })).url as string);
      const r = await connectOnce({
        connector: api,
        sandbox: sp,
        startPath: `${link.pathname}${link.search}`,
        clientId: svc.clientId,
        projectCode: `PRJB${i}`,
        redirectUri: `${svc.url}/connect/callback`,
        userAgent: UA,
      });
      if (r.status !== 303) throw new Error(`connect ${r.status}`);
    }
    await sandbox.call('hold-refill', { hold: false });
    const ids = (
      (await apiCall('GET', `/api/connections?tenant=${tenant}`)).connections as {
        id: string;
        status: string;
      }[]
    )
      .filter((c) => c.status === 'active')
      .map((c) => c.id);
    if (ids.length !== SELLERS) throw new Error(`${ids.length} of ${SELLERS} sellers connected`);

    const proxyBody = JSON.stringify({ method: 'GET', path: CATALOG });
    const proxyHeaders = { ...apiHeaders, 'content-type': 'application/json', accept: 'application/json' };
    const proxied = async (i: number) => {
      const r = await api!.request({
        method: 'POST',
        path: `/api/connections/${ids[i % ids.length]}/proxy`,
        headers: proxyHeaders,
        body: proxyBody,
      });
      const text = await r.body.text();
      if (r.statusCode !== 200) throw new Error(`proxy answered ${r.statusCode}: ${text.slice(0, 200)}`);
      const answer = JSON.parse(text) as { status: number };
      if (answer.status !== 200) throw new Error(`the proxied call answered ${answer.status}`);
    };
    raw = await rawLogin({ sandboxUrl: loopback(info.url), key: info.key });
    const direct = () => rawCall(raw!);
    // The sandbox journals every request; emptying it between chunks (untimed) keeps its cost flat.
    const clearJournal = async () => {
      const r = await sp!.request({
        method: 'DELETE',
        path: '/_sandbox/journal',
        headers: { 'user-agent': UA },
      });
      await r.body.dump();
    };

    // Warm both (every seller's session logged in, both pools connected), then alternate chunks.
    await chunk(direct, WARM, tally());
    await chunk(proxied, WARM, tally());
    const sum = { proxy: tally(), raw: tally() };
    const size = Math.ceil(CALLS / CHUNKS);
    const t0 = performance.now();
    for (let i = 0; i < CHUNKS && performance.now() - t0 < TIME_LIMIT_MS; i++) {
      await clearJournal();
      for (const mode of i % 2 === 0 ? (['raw', 'proxy'] as const) : (['proxy', 'raw'] as const)) {
        if (mode === 'raw') {
          await chunk(direct, size, sum.raw);
          continue;
        }
        const before = await service.call<NodeJS.CpuUsage>('cpu');
        await chunk(proxied, size, sum.proxy);
        const after = await service.call<NodeJS.CpuUsage>('cpu');
        sum.proxy.serviceCpuUs += cpuUs(after) - cpuUs(before);
      }
    }
    const rps = (t: Tally) => t.calls / (t.ms / 1000);
    const per = (us: number, t: Tally) => fmt(us / t.calls, 1);
    const ratio = rps(sum.proxy) / rps(sum.raw);
    console.log(
      `seller call via the REST proxy (POST /api/connections/{id}/proxy, GET ${CATALOG}, ${SELLERS} connections, ${IN_FLIGHT} in flight, ${sum.raw.calls} calls each in alternating chunks):`,
    );
    console.log(
      `  raw undici Pool.request to the sandbox  ${fmt(rps(sum.raw)).padStart(6)} calls/s   CPU ${per(sum.raw.cpuUs, sum.raw)} µs/call (bench process)`,
    );
    console.log(
      `  through the service's REST proxy        ${fmt(rps(sum.proxy)).padStart(6)} calls/s   CPU ${per(sum.proxy.serviceCpuUs, sum.proxy)} µs/call (service process) + ${per(sum.proxy.cpuUs, sum.proxy)} µs/call (bench process, as the API's client)`,
    );
    console.log(
      `  ratio ${fmt(ratio, 2)}x (floor >= 0.5x, goal >= 0.7x) ${ratio >= 0.5 ? 'FLOOR MET' : 'FLOOR NOT MET'}`,
    );
    record({
      bench: 'client',
      measure: 'seller call via the REST proxy',
      value: rps(sum.proxy),
      unit: 'calls/s',
      baseline: { label: 'raw undici Pool.request to the sandbox, same endpoint', value: rps(sum.raw) },
      ratio,
      floor: '≥ 0.5×',
      goal: '≥ 0.7×',
      note: `CPU per call: proxy ${per(sum.proxy.serviceCpuUs, sum.proxy)} µs in the service process (its HTTP server, bearer check, store reads, audit record, log line, the seller call) + ${per(sum.proxy.cpuUs, sum.proxy)} µs in the bench process as the API's client; raw ${per(sum.raw.cpuUs, sum.raw)} µs in the bench process; ${SELLERS} connections, ${IN_FLIGHT} in flight; service in production mode on SQLite, JSON logs at info to the null device, scheduled health checks off; sandbox in its own process`,
    });
  } finally {
    await api?.close();
    await sp?.close();
    await raw?.pool.close();
    await service.close();
    await sandbox.close();
  }
}
