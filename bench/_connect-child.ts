// A server process for bench/connect.ts, controlled over IPC so the load generator runs in another process:
// either the connector (its handler served through the node:http adapter, on SQLite or Postgres), or the
// baseline, a raw node:http server that answers every request with a 302.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import pg from 'pg';
import {
  createLoginJwt,
  type KeyFile,
  NoonApiUsers,
  NoonClient,
  type NoonCredentials,
  NoonOAuth,
  NoonSession,
  parseCredentials,
} from '../src/client/index.js';
import { type Connector, createConnector } from '../src/connect/index.js';
import { type ConnectHandler, createConnectHandler, toNodeListener } from '../src/http/index.js';
import { createPostgresStore, createSqliteStore, type Store } from '../src/store/index.js';
import { LocalKeyProvider, Vault } from '../src/vault/index.js';
import { type ChildMsg, serveParent } from './_child.js';
import { HeapGraph } from './_heap-retained.js';
import { CATALOG, type RawSeller, rawCall, rawLogin } from './_raw-seller.js';

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

let raw: RawSeller | undefined;

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
  if (a.mode === 'raw' && !raw) raw = await rawLogin(a);
  let next = 0;
  const one =
    a.mode === 'raw'
      ? () => rawCall(raw!)
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
    raw = await rawLogin(a, raw);
    await rawCall(raw);
    rawMs.push(performance.now() - t0);
    t0 = performance.now();
    const s = await connector!.sellerSession(a.tenant, p);
    await s.request('GET', CATALOG);
    coldMs.push(performance.now() - t0);
  }
  return { coldMs, rawMs };
}

/** What {@link sessionMemory} found in the heap snapshot, in bytes. */
export interface SessionMemory {
  /** Entries of the connector's session cache (the sessions it reaches). */
  entries: number;
  /** The cache's retained size (its map, keys and every session with what each holds alone) ÷ entries. */
  perEntry: number;
  /** Retained size of each idle session (those of `projects`) alone: min, median, max. */
  idle: { n: number; min: number; median: number; max: number };
  /** Sessions the cache reaches that something else holds too (their memory is not the cache's alone). */
  heldElsewhere: number;
  /** Bytes the sessions hold only between them (counted in `perEntry`, in no session's own size). */
  shared: number;
  /** The snapshot's node count (a sanity figure: the whole heap was walked). */
  nodes: number;
  /** Native (OpenSSL) memory of one imported, used seller key, which the V8 heap does not see: see {@link keyNative}. */
  keyNative: { bytes: number; rounds: number[]; keys: number; type: string };
  /** Imported private keys (PrivateKeyObject) reachable only through the session cache. */
  keysHeld: number;
}

/**
 * The native memory one imported seller key holds after it signed a login (OpenSSL's key, and the Montgomery
 * contexts and blinding it caches at the first signature), outside the V8 heap and so outside any heap snapshot:
 * resident memory less heap grown by `keys` more credentials parsed from a key of the sellers' kind (`key`) and
 * each used to sign a login JWT, per key; the median of `rounds`. Every round's keys are kept until the last is
 * read, so no round reuses memory another freed; a first round, kept but not counted, grows the allocator's
 * pools (it reads about twice the others).
 */
function keyNative(key: KeyFile, keys = 500, rounds = 5): SessionMemory['keyNative'] {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const credentials = parseCredentials(key);
  const details = credentials.privateKey.asymmetricKeyDetails;
  const type = `${credentials.privateKey.asymmetricKeyType ?? '?'}-${details?.modulusLength ?? '?'}`;
  const kept: NoonCredentials[] = [];
  const use = () => {
    const c = parseCredentials(key);
    createLoginJwt(c, Date.now(), () => randomUUID());
    kept.push(c);
  };
  const read = () => {
    for (let i = 0; i < 5; i++) gc();
    const m = process.memoryUsage();
    return m.rss - m.heapUsed;
  };
  for (let i = 0; i < keys; i++) use();
  const bytes: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const before = read();
    for (let i = 0; i < keys; i++) use();
    bytes.push(Math.max(0, (read() - before) / keys));
  }
  kept.length = 0;
  gc();
  const sorted = [...bytes].sort((x, y) => x - y);
  return { bytes: sorted[Math.floor(sorted.length / 2)]!, rounds: bytes, keys, type };
}

/**
 * The memory an idle cached seller session costs: one call through each of `projects`' sessions (logged in, one
 * call made, nothing in flight), then a heap snapshot (taken after a full GC) of this process, walked for the
 * retained size of the connector's session cache and of each session in it; beside it, the native memory of a
 * seller key, which no heap snapshot holds ({@link keyNative}). No heap-used delta: GC timing and lazily compiled
 * code cannot make this negative or move it by more than the objects really held.
 */
async function sessionMemory(a: {
  tenant: string;
  projects: string[];
  key: KeyFile;
}): Promise<SessionMemory> {
  for (const p of a.projects) await (await connector!.sellerSession(a.tenant, p)).request('GET', CATALOG);
  const native = keyNative(a.key);
  const dir = mkdtempSync(join(tmpdir(), 'nc-bench-heap-'));
  try {
    const g = new HeapGraph(writeHeapSnapshot(join(dir, 'connector.heapsnapshot')));
    const sessions = new Set(g.objectsNamed('NoonSession'));
    // The connector's session cache is the LruCache that holds sessions. The sessions a cache holds: reached through what only the cache holds (its map and its table), so not
    // through the hidden classes and prototypes every object leads to, nor through a session it holds.
    const inCache = g.objectsNamed('LruCache').map((cache) => {
      const live = g.reachableWithout(new Set([cache]));
      return { cache, live, sessions: [...g.firstReached(cache, sessions, live)] };
    });
    const found = inCache.filter((c) => c.sessions.length > 0);
    if (found.length !== 1) throw new Error(`expected one session cache in the heap, found ${found.length}`);
    const { cache, live, sessions: cached } = found[0]!;
    const own = cached.filter((s) => !live[s]);
    // Imported private keys the cache holds (a session keeps its key only until its first login signed):
    // each carries native memory no heap snapshot sees, counted below with the per-key figure.
    const fromCache = g.reach(cache);
    const keysHeld = g.objectsNamed('PrivateKeyObject').filter((k) => fromCache[k] && !live[k]).length;
    const whole = g.retained([cache]);
    const each = g.retained(own);
    const project = (s: number) => {
      const edge = g.children(s).find(([name]) => name === 'projectCode');
      return edge ? g.name(edge[1]) : '';
    };
    const idleSet = new Set(a.projects);
    const idle = own
      .map((s, k) => ({ project: project(s), bytes: each.each[k]! }))
      .filter((x) => idleSet.has(x.project))
      .map((x) => x.bytes)
      .sort((x, y) => x - y);
    if (idle.length === 0) throw new Error('no idle session found in the cache');
    return {
      entries: cached.length,
      perEntry: whole.total / cached.length,
      idle: {
        n: idle.length,
        min: idle[0]!,
        median: idle[Math.floor(idle.length / 2)]!,
        max: idle[idle.length - 1]!,
      },
      heldElsewhere: cached.length - own.length,
      shared: each.shared,
      nodes: g.count,
      keyNative: native,
      keysHeld,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
