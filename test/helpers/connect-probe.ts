// A connect stack for the state, CSRF and callback-input tests: like `startStack`, but the connector's store is
// wrapped in a Proxy that records every call (so "before any store access" is observed, not assumed), its Noon
// client sends through a fetch that harvests every secret on the wire for the secret search, and every response
// the test receives is captured for that search. It can also serve https, and share the store and vault of
// another stack (a second connector for another environment).

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { FetchLike, NoonEnvironment } from '../../src/client/index.js';
import { type Connector, type ConnectorOptions, createConnector } from '../../src/connect/index.js';
import { type ConnectHandler, createConnectHandler, toNodeListener } from '../../src/http/index.js';
import type { JournalEntry, Sandbox } from '../../src/sandbox/index.js';
import { metaOf, type Store } from '../../src/store/index.js';
import { LocalKeyProvider, Vault } from '../../src/vault/index.js';
import { type Browser, noonParts, startFromQuery, testConnectorOptions } from './connect.js';
import { startSandbox } from './sandbox.js';
import { SecretSearch } from './secret-search.js';
import { freshPostgres, freshSqlite } from './stores.js';

export interface StoreCall {
  method: string;
  args: unknown[];
}

/** Wraps a store so every method call is recorded (method name and arguments) before it runs. */
export function recordingStore(store: Store, calls: StoreCall[]): Store {
  return new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push({ method: String(prop), args });
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Endpoints of the sandbox that the connector calls: anything here is an upstream call. */
const NOT_UPSTREAM = new Set(['admin', 'consent', 'index', 'access', 'unknown']);

export interface Received {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

export interface ProbeStack {
  sb: Sandbox;
  /** The store as the connector sees it (recording). */
  store: Store;
  /** The store itself, for the test's own reads (not recorded). */
  rawStore: Store;
  vault: Vault;
  connector: Connector;
  handler: ConnectHandler;
  server: Server;
  origin: string;
  callbackUrl: string;
  clientId: string;
  clientSecret: string;
  logs: unknown[];
  /** Errors the handler reported through `onError`. */
  errors: unknown[];
  /** Every store call the connector made since the stack was built. */
  calls: StoreCall[];
  search: SecretSearch;
  file?: string;
  /** A position in the sandbox journal; pass it to `upstreamSince`. */
  journalMark(): number;
  /** Requests the connector sent to Noon since `mark`. */
  upstreamSince(mark: number, endpoint?: string): JournalEntry[];
  /** A consent through the sandbox admin (as if the seller approved); the code is registered as a secret. */
  authorize(state: string, o?: { projectCode?: string; email?: string }): string;
  /** GET (or another method) as `browser`; the response is read and captured for the secret search. */
  request(
    browser: Browser,
    url: string,
    init?: { method?: string; headers?: Record<string, string> },
  ): Promise<Received>;
  /** Starts a connect as `browser`; returns the state (registered as a secret) and the start response. */
  start(browser: Browser, query?: Record<string, string>): Promise<{ state: string; res: Received }>;
  /** A callback URL with the given query pairs, in order. */
  callback(pairs: [string, string][]): string;
  close(): Promise<void>;
}

export interface ProbeOptions {
  /** A sandbox shared between stacks (not closed with this one). */
  sandbox: Sandbox;
  store?: 'sqlite' | 'postgres';
  /** Use this stack's store, vault and secret search (a second connector on the same data). */
  shareWith?: ProbeStack;
  connector?: Partial<ConnectorOptions>;
  /** Serve https with this key and certificate; the origin then names `host`. */
  tls?: { key: string; cert: string };
  /** Host name in the origin (default 127.0.0.1; the server always listens on 127.0.0.1). */
  host?: string;
  /** Where the Noon client talks to (default the sandbox's own URL). */
  noonEnvironment?: NoonEnvironment;
  /** The fetch under the wire tap (default global fetch). */
  fetch?: FetchLike;
}

export async function startProbeStack(o: ProbeOptions): Promise<ProbeStack> {
  const sb = o.sandbox;
  const logs: unknown[] = [];
  const errors: unknown[] = [];
  const calls: StoreCall[] = [];
  const search = o.shareWith?.search ?? new SecretSearch();
  search.watch(`logs(${o.connector?.environment ?? 'sandbox'})`, logs);

  let rawStore: Store;
  let vault: Vault;
  let file: string | undefined;
  let dropStore: () => Promise<void> = async () => {};
  if (o.shareWith) {
    rawStore = o.shareWith.rawStore;
    vault = o.shareWith.vault;
  } else {
    if (o.store === 'postgres') {
      const pg = await freshPostgres();
      rawStore = pg.store;
      dropStore = async () => {
        await pg.store.close();
        await pg.drop();
      };
    } else {
      const s = await freshSqlite();
      rawStore = s.store;
      file = s.file;
      dropStore = () => s.store.close();
    }
    const masterKey = randomBytes(32).toString('base64');
    const meta = rawStore;
    vault = await Vault.open({
      provider: new LocalKeyProvider({ current: 'v1', keys: { v1: masterKey } }),
      meta: metaOf(meta),
    });
  }
  const store = recordingStore(rawStore, calls);

  let handler: ConnectHandler | undefined;
  const listener = toNodeListener(async (req) => handler!(req));
  const server: Server = o.tls
    ? (createHttpsServer({ key: o.tls.key, cert: o.tls.cert }, listener) as unknown as Server)
    : createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const origin = `${o.tls ? 'https' : 'http'}://${o.host ?? '127.0.0.1'}:${port}`;
  const callbackUrl = `${origin}/connect/callback`;
  const client = sb.addClient({
    client_id: `c-${randomBytes(4).toString('hex')}`,
    name: 'Probe Connect',
    redirect_uris: [callbackUrl],
  });
  search.add('client secret', client.clientSecret);
  const integratorKey = sb.fixtures.integrator.key!;
  search.addPem(integratorKey.private_key);

  const parts = noonParts(sb, client.clientId, client.clientSecret, logs, {
    environment: o.noonEnvironment ?? { local: sb.url },
    fetch: search.tap(o.fetch ?? ((input, init) => fetch(input, init))),
  });
  const _noonClient = parts.client;
  const connector = await createConnector({
    noon: parts,
    store,
    vault,
    ...testConnectorOptions(sb, origin, logs),
    ...o.connector,
  });
  handler = createConnectHandler({
    connector,
    authorizeStart: startFromQuery,
    onError: (e) => {
      errors.push(e);
      search.captureError('handler onError', e);
    },
  });
  // Building the connector read and wrote the state key: only what the tests cause is of interest.
  calls.length = 0;

  let seen = 0;
  const stack: ProbeStack = {
    sb,
    store,
    rawStore,
    vault,
    connector,
    handler,
    server,
    origin,
    callbackUrl,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    logs,
    errors,
    calls,
    search,
    ...(file ? { file } : {}),
    journalMark: () => sb.journal.lastSeq,
    upstreamSince: (mark, endpoint) =>
      sb.journal
        .entries({ sinceSeq: mark, ...(endpoint ? { endpoint } : {}) })
        .filter((e) => !NOT_UPSTREAM.has(e.endpoint)),
    authorize(state, a = {}) {
      const { code } = sb.authorize({
        clientId: client.clientId,
        state,
        redirectUri: callbackUrl,
        ...(a.projectCode ? { projectCode: a.projectCode } : {}),
        ...(a.email ? { email: a.email } : {}),
      });
      search.add('code', code);
      return code;
    },
    async request(browser, url, init = {}) {
      const res = await browser.get(url, init);
      const text = await res.text();
      const received: Received = {
        status: res.status,
        headers: res.headers,
        text,
        location: res.headers.get('location'),
      };
      search.captureResponse(
        `response #${++seen} ${init.method ?? 'GET'} ${new URL(url).pathname}`,
        res.status,
        res.headers,
        text,
      );
      return received;
    },
    async start(browser, query = {}) {
      const q = new URLSearchParams({ tenant: 'tenant-1', ...query });
      const res = await browser.get(`${origin}/connect/start?${q}`);
      const text = await res.text();
      if (res.status !== 303) throw new Error(`start answered ${res.status}: ${text}`);
      const location = res.headers.get('location')!;
      const url = new URL(location);
      const state = url.searchParams.get('state') ?? '';
      search.add('state', state);
      // The authorize URL carries the state to Noon by design; everything else in the answer is searched.
      url.searchParams.set('state', '[the state]');
      const headers = new Headers(res.headers);
      headers.set('location', url.toString());
      search.captureResponse(`response #${++seen} GET /connect/start`, res.status, headers, text);
      return { state, res: { status: res.status, headers: res.headers, text, location } };
    },
    callback(pairs) {
      return `${callbackUrl}?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await connector.drain();
      if (!o.shareWith) await dropStore();
    },
  };
  return stack;
}

/** Store calls made since index `from` (method names only). */
export function methodsSince(stack: ProbeStack, from: number): string[] {
  return stack.calls.slice(from).map((c) => c.method);
}

export interface RawAnswer {
  /** 0 when the server closed the connection without an answer. */
  status: number;
  /** The response head as sent (status line and header lines). */
  head: string;
  body: string;
  /** The socket error, if the connection broke (e.g. the server closed while the request was being written). */
  error?: string;
}

/**
 * One request written byte for byte on a fresh connection, so a target fetch would refuse or normalize (raw
 * CR/LF, NUL, a megabyte URL) reaches the server exactly as given. Resolves with whatever answer arrived.
 */
export function rawRequest(
  origin: string,
  requestBytes: string | Buffer,
  o: { ca?: string; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const u = new URL(origin);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket =
      u.protocol === 'https:'
        ? tlsConnect({
            host: u.hostname,
            port: Number(u.port),
            servername: 'localhost',
            ...(o.ca ? { ca: o.ca } : {}),
          })
        : netConnect({ host: u.hostname, port: Number(u.port) });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), o.timeoutMs ?? 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) => {
      error ??= (e as NodeJS.ErrnoException).code ?? e.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('latin1');
      const end = all.indexOf('\r\n\r\n');
      const head = end < 0 ? all : all.slice(0, end);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: end < 0 ? '' : all.slice(end + 4), ...(error ? { error } : {}) });
    });
    // No half-close: every request here says `Connection: close` (or is refused outright), so the server closes
    // once it has answered, however long the answer takes.
    socket.write(requestBytes);
  });
}

/** A GET request head for `target` on `origin`, with optional extra header lines. */
export function rawGet(origin: string, target: string, headers: Record<string, string> = {}): string {
  const u = new URL(origin);
  const lines = [`GET ${target} HTTP/1.1`, `Host: ${u.host}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

let sellerCount = 0;

/** A fresh seller with one project of its own, so each connect has its own service account and key quota. */
export function freshSeller(sb: Sandbox): { email: string; password: string; projectCode: string } {
  const n = `${process.pid}${++sellerCount}`;
  const projectCode = `PRJ7${n}`;
  const s = sb.addSeller({ email: `seller${n}@probe.example`, projects: [{ project_code: projectCode }] });
  return { email: s.email, password: s.password, projectCode };
}

/**
 * A sandbox and a probe stack for a whole test file, handed to `bind` once started; after every test the secret
 * search must find nothing and no request may have reached the handler's unexpected-error path.
 */
export function useProbeStack(bind: (sb: Sandbox, stack: ProbeStack) => void): void {
  let sb: Sandbox | undefined;
  let stack: ProbeStack | undefined;
  beforeAll(async () => {
    sb = await startSandbox();
    stack = await startProbeStack({ sandbox: sb });
    bind(sb, stack);
  });
  afterAll(async () => {
    await stack?.close();
    await sb?.close();
  });
  afterEach(() => {
    expect(stack!.search.count('client secret')).toBeGreaterThan(0);
    expect(stack!.search.findings()).toEqual([]);
    // A 500 page would hide a bug behind a refusal.
    expect(stack!.errors).toEqual([]);
  });
}
