// A connector in its own process, for crash tests: run with `node --import tsx`, configured by the JSON in
// NC_CHILD_CONFIG. It serves the connect handler on 127.0.0.1 and a few control routes under /_child/, and can
// stop dead at a named step so the parent can kill it with SIGKILL exactly there. The sandbox stays in the
// parent, so it outlives every kill.
//
// stdout protocol, one line each: `READY <port>`, `STEP <step> <attemptId>` (the process then blocks at that
// step, or kills itself), `DISKFULL <pageCount> <freelistCount>`, `LOG <json>` (connector log entries), and
// `SECRET <json>`: each secret that crossed the wire to Noon (login JWTs, cookies, codes, access tokens, keys),
// so the parent can search pages, logs and the store's files for it. Those lines only go to the parent's pipe.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type FetchLike,
  type KeyFile,
  NoonApiUsers,
  NoonClient,
  NoonOAuth,
  NoonSession,
  parseCredentials,
} from '../../src/client/index.js';
import { ConnectError, type ConnectorOptions, createConnector, type Step } from '../../src/connect/index.js';
import { createConnectHandler, sendWebResponse, toWebRequest } from '../../src/http/index.js';
import {
  createPostgresStore,
  createSqliteStore,
  metaOf,
  openSqlite,
  type SqliteDatabase,
  type Store,
} from '../../src/store/index.js';
import { Vault } from '../../src/vault/index.js';
import { testKeyProvider } from './pkcs11-switch.js';

export interface ChildConfig {
  sandboxUrl: string;
  integratorKey: KeyFile;
  clientId: string;
  clientSecret: string;
  store: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; schema: string };
  masterKey: string;
  /** Port to listen on; a fixed one keeps the registered callback URL valid across restarts. */
  port: number;
  /** Stop at this step: `hang` blocks the flow there (the parent kills), `self-kill` sends SIGKILL to itself. */
  crash?: { step: Step; mode: 'hang' | 'self-kill'; tenant?: string };
  /** SQLite only: at this step, cap the database at its current size on the connector's own connection. */
  diskFullAt?: Step;
  reconcileAfterMs?: ConnectorOptions['reconcileAfterMs'];
  slotWaitMs?: number;
  /** With NOON_CONNECT_TEST_PKCS11=1: sellers' keys go into the token (the connector's `signingKeys`). */
  sellerKeys?: boolean;
}

const UA = 'noon-connect-tests/1.0';
const config = JSON.parse(process.env.NC_CHILD_CONFIG ?? '') as ChildConfig;

function line(s: string): void {
  // Pipes are synchronous on Linux, so a line is out before a SIGKILL that follows it.
  process.stdout.write(`${s}\n`);
}

// The sandbox's clock is real time plus an offset that tests advance; the child follows it by reading the
// offset from the admin API before each request it serves.
let offsetMs = 0;
async function syncClock(): Promise<void> {
  const r = await fetch(`${config.sandboxUrl}/_sandbox/clock`);
  const body = (await r.json()) as { offset_ms: number };
  offsetMs = body.offset_ms;
}
const clock = { now: () => Date.now() + offsetMs };

await syncClock();

let sqliteDb: SqliteDatabase | undefined;
let store: Store;
if (config.store.kind === 'sqlite') {
  sqliteDb = openSqlite(config.store.file);
  store = await createSqliteStore({ database: sqliteDb });
} else {
  store = await createPostgresStore({ connection: config.store.url, schema: config.store.schema, max: 4 });
}

// The master key is the bench's, or the token's with NOON_CONNECT_TEST_PKCS11=1 (inherited from the parent).
const keys = await testKeyProvider(config.masterKey);
const vault = await Vault.open({ provider: keys.provider, meta: metaOf(store) });

/** JSON fields on Noon's wire that hold secrets, and what they are. */
const WIRE_SECRETS: Record<string, string> = {
  client_secret: 'client secret',
  code: 'code',
  access_token: 'access token',
  token: 'login JWT',
  private_key: 'PEM',
};

function harvest(text: string): void {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return;
  }
  const walk = (v: unknown, key: string | undefined): void => {
    if (typeof v === 'string') {
      const kind = key ? WIRE_SECRETS[key] : undefined;
      if (kind) line(`SECRET ${JSON.stringify({ kind, value: v })}`);
    } else if (Array.isArray(v)) for (const x of v) walk(x, key);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(body, undefined);
}

/** Global fetch with every secret in a request or response reported to the parent. */
const tappedFetch: FetchLike = async (input, init) => {
  if (typeof init.body === 'string') harvest(init.body);
  const sent = new Headers(init.headers).get('cookie');
  for (const part of sent?.split(';') ?? []) {
    const value = part.slice(part.indexOf('=') + 1).trim();
    if (value) line(`SECRET ${JSON.stringify({ kind: 'session cookie', value })}`);
  }
  const res = await fetch(input, init);
  for (const c of res.headers.getSetCookie()) {
    const pair = c.split(';')[0] ?? '';
    const value = pair.slice(pair.indexOf('=') + 1).trim();
    if (value) line(`SECRET ${JSON.stringify({ kind: 'session cookie', value })}`);
  }
  try {
    harvest(await res.clone().text());
  } catch {
    // A torn answer carried nothing the connector could use.
  }
  return res;
};

const client = new NoonClient({
  environment: { local: config.sandboxUrl },
  userAgent: UA,
  fetch: tappedFetch,
  clock,
  timeoutMs: 5000,
  retry: { baseDelayMs: 10, maxDelayMs: 50 },
});
const integrator = new NoonSession(client, parseCredentials(config.integratorKey));

async function stepHook(step: Step, attempt: { id: string; tenant: string }): Promise<void> {
  if (config.diskFullAt === step && sqliteDb) {
    // max_page_count belongs to this connection, which is the store's own: its next growing commit fails
    // with SQLITE_FULL, as on a full disk. VACUUM first, so no free page (a schema migration leaves some) lets
    // a later commit through after all.
    sqliteDb.exec('VACUUM');
    const pages = sqliteDb.pragma('page_count', { simple: true }) as number;
    sqliteDb.pragma(`max_page_count = ${pages}`);
    line(`DISKFULL ${pages} ${String(sqliteDb.pragma('freelist_count', { simple: true }))}`);
  }
  const c = config.crash;
  if (!c || c.step !== step || (c.tenant !== undefined && c.tenant !== attempt.tenant)) return;
  line(`STEP ${step} ${attempt.id}`);
  if (c.mode === 'self-kill') process.kill(process.pid, 'SIGKILL');
  // Held the way a call stuck on a socket is: reachable, so what the stopped flow holds stays live (a heap
  // snapshot sees it) until the parent kills the process.
  await new Promise<never>((resolve) => hung.push(resolve));
}

const hung: unknown[] = [];

const connector = await createConnector({
  noon: {
    client,
    oauth: new NoonOAuth({
      session: integrator,
      clientId: config.clientId,
      clientSecret: config.clientSecret,
    }),
    apiUsers: new NoonApiUsers({ session: integrator }),
  },
  store,
  vault,
  environment: 'sandbox',
  publicUrl: `http://127.0.0.1:${config.port}`,
  clock,
  logger: (e) => line(`LOG ${JSON.stringify(e)}`),
  stepHook,
  slotWaitMs: config.slotWaitMs ?? 10_000,
  ...(config.reconcileAfterMs ? { reconcileAfterMs: config.reconcileAfterMs } : {}),
  ...(config.sellerKeys ? { signingKeys: sellerKeyStore() } : {}),
});

function sellerKeyStore() {
  if (!keys.signingKeys) throw new Error('sellerKeys needs NOON_CONNECT_TEST_PKCS11=1 (a token)');
  return keys.signingKeys;
}

/**
 * A heap snapshot after full garbage collection, written to `path`, with strings kept whole (V8 cuts them at
 * 1024 characters by default, which could hide a key inside a longer string).
 */
function heapSnapshot(path: string): string {
  setFlagsFromString('--expose-gc');
  setFlagsFromString('--heap-snapshot-string-limit=100000000');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return writeHeapSnapshot(path);
}

const handler = createConnectHandler({
  connector,
  authorizeStart: (req) => {
    const u = new URL(req.url);
    return { tenant: u.searchParams.get('tenant') ?? 'tenant-1' };
  },
});

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** The control routes: reconcile (N calls at once), rotate a connection, close the store. */
async function control(req: Request): Promise<Response> {
  const u = new URL(req.url);
  switch (u.pathname) {
    case '/_child/reconcile': {
      const times = Number(u.searchParams.get('times') ?? '1');
      const reports = await Promise.all(Array.from({ length: times }, () => connector.reconcile()));
      return json(200, reports);
    }
    case '/_child/rotate':
      try {
        return json(200, await connector.rotate(u.searchParams.get('id') ?? ''));
      } catch (e) {
        return json(409, { code: e instanceof ConnectError ? e.code : 'INTERNAL' });
      }
    case '/_child/seller':
      // A seller session with the stored key (signed in the token when the key is there): login, then whoami.
      try {
        const session = await connector.sellerSession(
          u.searchParams.get('tenant') ?? '',
          u.searchParams.get('project') ?? '',
        );
        await session.login();
        return json(200, await session.whoami());
      } catch (e) {
        return json(409, { code: (e as { code?: string }).code ?? 'INTERNAL' });
      }
    case '/_child/disconnect':
      try {
        return json(200, await connector.disconnect(u.searchParams.get('id') ?? ''));
      } catch (e) {
        return json(409, { code: (e as { code?: string }).code ?? 'INTERNAL' });
      }
    case '/_child/heap-snapshot':
      return json(200, { path: heapSnapshot(u.searchParams.get('path') ?? '') });
    case '/_child/close-store':
      await store.close();
      return json(200, { closed: true });
    default:
      return json(404, {});
  }
}

const server = createServer((req, res) => {
  (async () => {
    await syncClock();
    const request = await toWebRequest(req, `http://127.0.0.1:${config.port}`);
    const response = new URL(request.url).pathname.startsWith('/_child/')
      ? await control(request)
      : ((await handler(request)) ?? new Response('not found', { status: 404 }));
    await sendWebResponse(res, response);
  })().catch((e) => {
    process.stderr.write(`child request failed: ${e instanceof Error ? e.message : String(e)}\n`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.listen(config.port, '127.0.0.1', () => {
  line(`READY ${(server.address() as AddressInfo).port}`);
});
