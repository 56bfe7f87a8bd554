// A cluster for scale tests and the scale bench: N `noon-connect serve` processes on one Postgres schema, behind a
// round-robin HTTP proxy written here (loopback only), a sandbox in this process, and a storm of sellers connecting
// through the proxy. A request may name the instance it should land on (`x-nc-instance`); an instance that
// refuses connections (killed) is skipped, as a load balancer's health check would.

import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import pg from 'pg';
import type { Sandbox } from '../../src/sandbox/index.js';
import { runCli } from '../helpers/cli.js';
import { freePort, type Listening, serveHttp } from '../helpers/net.js';
import { Browser, freshSeller, type Page } from '../helpers/seller-flow.js';
import { childEnv } from '../helpers/service-ops.js';
import { freshSchemaName, PG_URL } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

// Not from harness.ts: this module also runs outside the test runner (bench/scale.ts).
const randomToken = (prefix: string) => `${prefix}-${randomBytes(24).toString('base64url')}`;

/** The header a request names its instance in (the proxy's own routing hint; never forwarded). */
export const ROUTE_HEADER = 'x-nc-instance';
/** The header the proxy answers with: which instance served the request. */
export const SERVED_HEADER = 'x-nc-served-by';

export interface Instance {
  index: number;
  port: number;
  run: ReturnType<typeof runCli> | undefined;
  /** Every line the process wrote, over all its runs. */
  output: string[];
}

export interface Proxy extends Listening {
  url: string;
  /** Requests that had to skip a dead instance. */
  failovers: number;
  /** Why requests to an instance failed, by error code. */
  errors: Map<string, number>;
}

/** The round-robin proxy in front of the instances. */
export async function startProxy(instances: readonly Instance[]): Promise<Proxy> {
  let next = 0;
  const state = { failovers: 0 };
  const errors = new Map<string, number>();
  const forward = (
    target: Instance,
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers };
      delete headers[ROUTE_HEADER];
      const out = httpRequest(
        { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 502,
              headers: res.headers as Record<string, string | string[]>,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  const server = await serveHttp((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const hint = Number(req.headers[ROUTE_HEADER]);
      const first = Number.isInteger(hint) ? hint % instances.length : next++ % instances.length;
      for (let k = 0; k < instances.length; k++) {
        const target = instances[(first + k) % instances.length]!;
        try {
          const r = await forward(target, req, body);
          res.writeHead(r.status, { ...r.headers, [SERVED_HEADER]: String(target.index) });
          res.end(r.body);
          return;
        } catch (e) {
          // Refused: the instance is down; the next one takes the request. Anything else (the instance died
          // while answering) is the client's 502, as a real load balancer would answer.
          const code = (e as NodeJS.ErrnoException).code ?? (e as Error).name;
          errors.set(code, (errors.get(code) ?? 0) + 1);
          if (code === 'ECONNREFUSED') {
            state.failovers++;
            continue;
          }
          break;
        }
      }
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
  });
  return {
    ...server,
    url: `http://127.0.0.1:${server.port}`,
    errors,
    get failovers() {
      return state.failovers;
    },
  };
}

export interface Cluster {
  sb: Sandbox;
  proxy: Proxy;
  instances: Instance[];
  env: Record<string, string>;
  apiToken: string;
  adminToken: string;
  clientId: string;
  schema: string;
  storeUrl: string;
  /** Starts (or restarts) instance i and waits until it serves. */
  start(i: number): Promise<void>;
  /** kill -9. */
  kill(i: number): Promise<void>;
  close(): Promise<void>;
}

/** N instances of `serve` on a fresh Postgres schema, behind the proxy. */
export async function startCluster(
  sb: Sandbox,
  n: number,
  extraEnv: Record<string, string> = {},
): Promise<Cluster> {
  const instances: Instance[] = [];
  for (let i = 0; i < n; i++)
    instances.push({ index: i, port: await freePort(), run: undefined, output: [] });
  const proxy = await startProxy(instances);
  const schema = freshSchemaName();
  const u = new URL(PG_URL);
  u.searchParams.set('schema', schema);
  const registered = sb.addClient({
    client_id: `c-${randomBytes(4).toString('hex')}`,
    name: 'Scale Test',
    redirect_uris: [`${proxy.url}/connect/callback`],
  });
  const client = { clientId: registered.clientId, clientSecret: registered.clientSecret };
  const apiToken = randomToken('api');
  const adminToken = randomToken('admin');
  const env: Record<string, string> = {
    NOON_CONNECT_MODE: 'production',
    NOON_CONNECT_HOST: '127.0.0.1',
    NOON_CONNECT_PUBLIC_URL: proxy.url,
    NOON_ENV: 'local',
    NOON_LOCAL_URL: sb.url,
    NOON_CLIENT_ID: client.clientId,
    NOON_CLIENT_SECRET: client.clientSecret,
    NOON_KEY_FILE: sb.fixtures.integrator.keyFile!,
    NOON_CONNECT_STORE: u.toString(),
    NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64'),
    NOON_CONNECT_ADMIN_TOKEN: adminToken,
    NOON_CONNECT_API_TOKEN: apiToken,
    NOON_CONNECT_LOG: 'json',
    NOON_CONNECT_LOG_LEVEL: 'warn',
    NOON_CONNECT_START_LIMIT: '100000',
    NOON_CONNECT_HEALTH_INTERVAL_MS: '0',
    ...extraEnv,
  };
  const cluster: Cluster = {
    sb,
    proxy,
    instances,
    env,
    apiToken,
    adminToken,
    clientId: client.clientId,
    schema,
    storeUrl: u.toString(),
    async start(i) {
      const inst = instances[i]!;
      const run = runCli(['serve'], childEnv({ ...env, NOON_CONNECT_PORT: String(inst.port) }));
      inst.run = run;
      run.child.stdout!.on('data', (d: Buffer) => inst.output.push(d.toString()));
      run.child.stderr!.on('data', (d: Buffer) => inst.output.push(d.toString()));
      await run.waitFor(/noon-connect serving on/, 60_000);
    },
    async kill(i) {
      const run = instances[i]!.run;
      if (!run) return;
      run.child.kill('SIGKILL');
      await run.exit;
      instances[i]!.run = undefined;
    },
    async close() {
      for (const inst of instances) {
        const run = inst.run;
        if (!run) continue;
        run.child.kill('SIGTERM');
        await Promise.race([run.exit, new Promise((r) => setTimeout(r, 15_000))]);
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
        inst.run = undefined;
      }
      await proxy.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
  // The first start migrates; the others then start together.
  await cluster.start(0);
  await Promise.all(instances.slice(1).map((x) => cluster.start(x.index)));
  return cluster;
}

/** One seller's trip through the cluster, each step pinned to an instance. */
export interface Flow {
  index: number;
  tenant: string;
  projectCode: string;
  /** Which instance served start, callback and done (-1: not reached). */
  servedBy: [number, number, number];
  /** Steps that had to be repeated after a 502 (an instance died while answering). */
  retries: number;
  attemptUrl?: string;
  ended: 'connected' | 'other';
  callback?: Page;
  done?: Page;
  /** Milliseconds from the link to the done page. */
  ms: number;
}

async function newLink(c: Cluster, tenant: string): Promise<string> {
  for (let tries = 0; ; tries++) {
    const r = await fetch(`${c.proxy.url}/api/connect-links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant }),
    });
    if (r.status === 201) return ((await r.json()) as { url: string }).url;
    if (tries >= 5) throw new Error(`connect link: ${r.status} ${await r.text()}`);
  }
}

const served = (p: Page): number => Number(p.headers.get(SERVED_HEADER) ?? -1);

/** start → consent (through the sandbox, as the seller's click) → callback → done, each on its own instance. */
export async function runFlow(c: Cluster, index: number, pin: [number, number, number]): Promise<Flow> {
  const t0 = performance.now();
  const seller = freshSeller(c.sb, 'S');
  const tenant = `tenant-${index}`;
  const flow: Flow = {
    index,
    tenant,
    projectCode: seller.projectCode,
    servedBy: [-1, -1, -1],
    retries: 0,
    ended: 'other',
    ms: 0,
  };
  const browser = new Browser();
  const step = (url: string, i: 0 | 1 | 2) =>
    browser.page(url, { headers: { [ROUTE_HEADER]: String(pin[i]) } });
  let start = await step(await newLink(c, tenant), 0);
  // A start the dying instance did not answer: a fresh link (the first may have been counted as used).
  while (start.status === 502 && flow.retries < 5) {
    flow.retries++;
    start = await step(await newLink(c, tenant), 0);
  }
  flow.servedBy[0] = served(start);
  if (start.status !== 303 || !start.location) return flow;
  const state = new URL(start.location).searchParams.get('state')!;
  const callbackUrl = `${c.proxy.url}/connect/callback`;
  const a = c.sb.authorize({
    clientId: c.clientId,
    state,
    redirectUri: callbackUrl,
    projectCode: seller.projectCode,
    email: seller.email,
  });
  const cbUrl = `${callbackUrl}?code=${encodeURIComponent(a.code)}&state=${encodeURIComponent(state)}`;
  let callback = await step(cbUrl, 1);
  // The seller reloads after a 502: the connector answers from the attempt (it was claimed, or not yet).
  while (callback.status === 502 && flow.retries < 5) {
    flow.retries++;
    callback = await step(cbUrl, 1);
  }
  flow.callback = callback;
  flow.servedBy[1] = served(callback);
  if (callback.status === 303 && callback.location?.includes('/connect/done/')) {
    flow.attemptUrl = new URL(callback.location, c.proxy.url).href;
    let done = await step(flow.attemptUrl, 2);
    while (done.status === 502 && flow.retries < 5) {
      flow.retries++;
      done = await step(flow.attemptUrl, 2);
    }
    flow.done = done;
    flow.servedBy[2] = served(done);
    if (done.status === 200) flow.ended = 'connected';
  }
  flow.ms = performance.now() - t0;
  return flow;
}

/** Runs `total` flows, `concurrency` at a time; `onDone` sees each as it ends. */
export async function storm(
  c: Cluster,
  total: number,
  concurrency: number,
  onDone: (f: Flow, completed: number) => Promise<void> | void = () => {},
): Promise<{ flows: Flow[]; seconds: number }> {
  const n = c.instances.length;
  const flows: Flow[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      // Each step on another instance (with one instance, all on it).
      const f = await runFlow(c, i, [i % n, (i + 1) % n, (i + 2) % n]);
      flows.push(f);
      await onDone(f, flows.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { flows, seconds: (performance.now() - t0) / 1000 };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Waits until the store answers `check` truthy. */
export async function waitStore<T>(what: string, check: () => Promise<T>, timeoutMs = 60_000) {
  return waitFor(what, check, { timeoutMs, intervalMs: 250 });
}
