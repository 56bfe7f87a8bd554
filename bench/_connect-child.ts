// A server process for bench/connect.ts, controlled over IPC so the load generator runs in another process:
// either the connector (its handler served through the node:http adapter, on SQLite or Postgres), or the
// baseline, a raw node:http server that answers every request with a 302.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import {
  createLoginJwt,
  type KeyFile,
  NoonApiUsers,
  NoonClient,
  NoonOAuth,
  NoonSession,
  parseCredentials,
} from '../src/client/index.js';
import { type Connector, createConnector } from '../src/connect/index.js';
import { type ConnectHandler, createConnectHandler, toNodeListener } from '../src/http/index.js';
import { createPostgresStore, createSqliteStore, type Store } from '../src/store/index.js';
import { LocalKeyProvider, Vault } from '../src/vault/index.js';
import { type ChildMsg, serveParent } from './_child.js';

type Msg = ChildMsg;

const PG_URL = process.env.NOON_CONNECT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let server: Server | undefined;
let handler: ConnectHandler | undefined;
let store: Store | undefined;
let connector: Connector | undefined;
let cleanup: () => Promise<void> = async () => {};

async function listen(s: Server): Promise<string> {
  server = s;
  s.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

// --- the seller's hot path (bench/_seller-paths.ts) ---------------------------------------------------------

const CATALOG = '/catalog/v1/items';
let raw: { pool: Pool; cookie: string } | undefined;

/** A raw undici baseline: logs in with the integrator's key itself and calls the same endpoint. */
async function rawLogin(a: { sandboxUrl: string; key: KeyFile }): Promise<{ pool: Pool; cookie: string }> {
  const credentials = parseCredentials(a.key);
  const pool = raw?.pool ?? new Pool(a.sandboxUrl, { connections: 16, keepAliveTimeout: 30_000 });
  const r = await pool.request({
    method: 'POST',
    path: '/identity/public/v1/api/login',
    headers: { 'content-type': 'application/json', 'user-agent': 'noon-connect-bench/1.0' },
    body: JSON.stringify({
      token: createLoginJwt(credentials, Date.now(), () => randomUUID()),
      default_project_code: credentials.projectCode,
    }),
  });
  await r.body.dump();
  const sc = r.headers['set-cookie'];
  const cookie = (Array.isArray(sc) ? sc : [sc ?? '']).map((c) => c.split(';')[0]).join('; ');
  raw = { pool, cookie };
  return raw;
}

async function rawCall(): Promise<void> {
  const r = await raw!.pool.request({
    method: 'GET',
    path: CATALOG,
    headers: { 'user-agent': 'noon-connect-bench/1.0', accept: 'application/json', cookie: raw!.cookie },
  });
  const text = await r.body.text();
  if (r.statusCode !== 200) throw new Error(`raw catalog answered ${r.statusCode}`);
  JSON.parse(text);
}

/** `count` calls, `inFlight` at once: through `sellerSession` (looked up per call, as a handler would) or raw. */
async function sellerCalls(a: {
  mode: 'session' | 'raw';
  tenant: string;
  projects: string[];
  count: number;
  inFlight: number;
  sandboxUrl: string;
  key: KeyFile;
}): Promise<{ calls: number; ms: number; cpuUs: number }> {
  if (a.mode === 'raw' && !raw) await rawLogin(a);
  let next = 0;
  const one =
    a.mode === 'raw'
      ? rawCall
      : async (i: number) => {
          const s = await connector!.sellerSession(a.tenant, a.projects[i % a.projects.length]!);
          await s.request('GET', CATALOG);
        };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: a.inFlight }, async () => {
      for (;;) {
        const i = next++;
        if (i >= a.count) return;
        await one(i);
      }
    }),
  );
  const ms = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  return { calls: a.count, ms, cpuUs: c.user + c.system };
}

/**
 * Cold seller calls, one at a time: `sellerSession` for a connection not used yet (decrypt, key import, login)
 * and one call, beside a raw login + call to the same sandbox (the round trips a cold call cannot avoid).
 */
async function coldCalls(a: {
  tenant: string;
  projects: string[];
  sandboxUrl: string;
  key: KeyFile;
}): Promise<{ coldMs: number[]; rawMs: number[] }> {
  const coldMs: number[] = [];
  const rawMs: number[] = [];
  for (const p of a.projects) {
    let t0 = performance.now();
    await rawLogin(a);
    await rawCall();
    rawMs.push(performance.now() - t0);
    t0 = performance.now();
    const s = await connector!.sellerSession(a.tenant, p);
    await s.request('GET', CATALOG);
    coldMs.push(performance.now() - t0);
  }
  return { coldMs, rawMs };
}

/** Heap bytes per idle cached seller session (logged in, one call made), after a full GC. */
async function sessionMemory(a: {
  tenant: string;
  projects: string[];
}): Promise<{ bytesEach: number; n: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  // Several full GCs. Bench children run with --no-flush-bytecode: V8 otherwise drops the bytecode of functions
  // not run for a few GCs, which shrank the heap between the two readings by more than the sessions add.
  const heap = () => {
    for (let i = 0; i < 10; i++) gc();
    return process.memoryUsage().heapUsed;
  };
  // Two sessions first, so code paths, caches and pools that any first session sets up are not counted.
  for (const p of a.projects.slice(0, 2))
    await (await connector!.sellerSession(a.tenant, p)).request('GET', CATALOG);
  const rest = a.projects.slice(2);
  const before = heap();
  for (const p of rest) await (await connector!.sellerSession(a.tenant, p)).request('GET', CATALOG);
  const after = heap();
  return { bytesEach: (after - before) / rest.length, n: rest.length };
}

async function handle(m: Msg): Promise<unknown> {
  switch (m.op) {
    case 'baseline':
      return {
        origin: await listen(
          createServer((_req, res) => {
            res.writeHead(302, { location: '/' });
            res.end();
          }),
        ),
      };
    case 'listen':
      // The server comes first so the OAuth client can be registered with its callback URL.
      return { origin: await listen(createServer(toNodeListener(async (req) => handler!(req)))) };
    case 'connector': {
      const a = m.args as {
        store: 'sqlite' | 'postgres';
        sandboxUrl: string;
        integratorKey: KeyFile;
        clientId: string;
        clientSecret: string;
        origin: string;
      };
      if (a.store === 'sqlite') {
        const dir = mkdtempSync(join(tmpdir(), 'nc-bench-'));
        store = await createSqliteStore({ database: join(dir, 'store.db') });
        cleanup = async () => rmSync(dir, { recursive: true, force: true });
      } else {
        const schema = `nc_bench_${randomBytes(5).toString('hex')}`;
        store = await createPostgresStore({ connection: PG_URL, schema, max: 8 });
        cleanup = async () => {
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await c.end();
        };
      }
      const s = store;
      const vault = await Vault.open({
        provider: new LocalKeyProvider({ current: 'v1', keys: { v1: randomBytes(32).toString('base64') } }),
        meta: {
          get: (n) => s.getMeta(n),
          set: (n, v) => s.setMeta(n, v),
          setIfAbsent: (n, v) => s.setMetaIfAbsent(n, v),
        },
      });
      const client = new NoonClient({
        environment: { local: a.sandboxUrl },
        userAgent: 'noon-connect-bench/1.0',
        timeoutMs: 15_000,
        connections: 32,
      });
      const integrator = new NoonSession(client, parseCredentials(a.integratorKey));
      connector = await createConnector({
        noon: {
          client,
          oauth: new NoonOAuth({ session: integrator, clientId: a.clientId, clientSecret: a.clientSecret }),
          apiUsers: new NoonApiUsers({ session: integrator }),
        },
        store: s,
        vault,
        environment: 'sandbox',
        publicUrl: a.origin,
      });
      handler = createConnectHandler({
        connector,
        authorizeStart: (req) => ({ tenant: new URL(req.url).searchParams.get('tenant') ?? 'bench' }),
      });
      return { ok: true };
    }
    case 'cpu':
      return process.cpuUsage();
    case 'seller-calls':
      return sellerCalls(m.args);
    case 'cold-calls':
      return coldCalls(m.args);
    case 'session-memory':
      return sessionMemory(m.args);
    case 'key-check': {
      // Seller login + whoami with stored keys (healthCheck logs in afresh each time): the key check alone.
      const conns = (await connector!.listConnections({ tenant: m.args.tenant })).slice(0, m.args.count);
      let ok = 0;
      for (const c of conns) if ((await connector!.healthCheck(c.id)).ok) ok++;
      return ok;
    }
    case 'counts': {
      const conns = await store!.listConnections({});
      const attempts = await store!.listAttempts({ limit: 100_000 });
      const byStatus: Record<string, number> = {};
      for (const x of attempts) byStatus[x.status] = (byStatus[x.status] ?? 0) + 1;
      return {
        active: conns.filter((c) => c.status === 'active').length,
        credentials: (await store!.listCredentials({ states: ['active'] })).length,
        attempts: attempts.length,
        byStatus,
      };
    }
    case 'close':
      if (server) {
        const s = server;
        const closed = new Promise<void>((r) => s.close(() => r()));
        s.closeAllConnections();
        await closed;
      }
      await connector?.drain();
      await store?.close();
      await cleanup();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

serveParent(handle);
