// A server process for bench/connect.ts, controlled over IPC so the load generator runs in another process:
// either the connector (its handler served through the node:http adapter, on SQLite or Postgres), or the
// baseline, a raw node:http server that answers every request with a 302.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { NoonApiUsers, NoonClient, NoonOAuth, NoonSession, parseCredentials } from '../src/client/index.js';
import { type Connector, createConnector } from '../src/connect/index.js';
import { type ConnectHandler, createConnectHandler, toNodeListener } from '../src/http/index.js';
import type { KeyFile } from '../src/sandbox/index.js';
import { createPostgresStore, createSqliteStore, type Store } from '../src/store/index.js';
import { LocalKeyProvider, Vault } from '../src/vault/index.js';

type Msg = { id: number; op: string; args?: any };

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

process.on('message', (m: Msg) => {
  handle(m).then(
    (result) => process.send!({ id: m.id, result }),
    (e: Error) => process.send!({ id: m.id, error: e.message }),
  );
});
process.send!({ ready: true });
