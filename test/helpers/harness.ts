// The test harness core: the one way tests start the parts of a connect deployment. A stack is a sandbox (its
// own, or one shared by the test file), a fresh store (SQLite or Postgres) and vault, an OAuth client registered
// for the stack's callback URL, and the connector behind its handler, served through node:http or any adapter;
// a service stack runs the whole service (`createService`) on the same parts instead. Options switch on what a
// test observes (the wire to Noon, step hooks, sleeps that move the sandbox clock); what is cheap to observe is
// always recorded (logs, events, pages, handler errors, store calls, the secrets the test handled).

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import {
  NoonApiUsers,
  NoonClient,
  type NoonClientOptions,
  NoonOAuth,
  NoonSession,
  parseCredentials,
} from '../../src/client/index.js';
import {
  type ConnectEvent,
  type Connector,
  type ConnectorOptions,
  createConnector,
  type Step,
} from '../../src/connect/index.js';
import {
  type ConnectHandler,
  createConnectHandler,
  type StartParams,
  toNodeListener,
} from '../../src/http/index.js';
import type { JournalEntry, Sandbox } from '../../src/sandbox/index.js';
import {
  createService,
  parseConfig,
  type Service,
  type ServiceDeps,
  StartupError,
} from '../../src/service/index.js';
import type { Store } from '../../src/store/index.js';
import type { Vault } from '../../src/vault/index.js';
import type { AdapterTarget } from './adapters.js';
import { freePort, listen } from './net.js';
import { freshStoreWithTokenVault, testPkcs11, testPkcs11Env } from './pkcs11-switch.js';
import { startSandbox, type TestSandboxOptions, UA } from './sandbox.js';
import { SecretSearch } from './secret-search.js';
import { Browser, type ConnectTarget, DEFAULT_TENANT, type Page } from './seller-flow.js';
import { freshSchemaName, freshStoreWithVault, PG_URL, tempDir } from './stores.js';
import { pemSecrets, type Secret, WireRecorder, wireSecrets } from './wire.js';

// --- the sandbox and the integrator's side of it --------------------------------------------------------------

interface SandboxChoice {
  /** A running sandbox to use; it is left running when the stack closes. */
  sandbox?: Sandbox;
  /** Options for a sandbox of the stack's own (closed with it). */
  sandboxOptions?: TestSandboxOptions;
}

async function sandboxFor(o: SandboxChoice): Promise<{ sb: Sandbox; close(): Promise<void> }> {
  if (o.sandbox) return { sb: o.sandbox, close: async () => {} };
  const sb = await startSandbox(o.sandboxOptions);
  return { sb, close: () => sb.close() };
}

/** Registers an OAuth client for the given callback URLs; returns its id and secret. */
export function registerClient(
  sb: Sandbox,
  callbackUrls: string[],
  name = 'Test Connect',
): { clientId: string; clientSecret: string } {
  const c = sb.addClient({
    client_id: `c-${randomBytes(4).toString('hex')}`,
    name,
    redirect_uris: callbackUrls,
  });
  return { clientId: c.clientId, clientSecret: c.clientSecret };
}

/** Integrator-side client parts for a sandbox; `client` overrides options of the test client (fetch, sleep…). */
export function noonParts(
  sb: Sandbox,
  clientId: string,
  clientSecret: string,
  logs: unknown[] = [],
  client: Partial<NoonClientOptions> = {},
) {
  const noon = new NoonClient({
    environment: { local: sb.url },
    userAgent: UA,
    clock: { now: () => sb.clock.now() },
    timeoutMs: 5000,
    retry: { baseDelayMs: 10, maxDelayMs: 50 },
    logger: (e) => logs.push(e),
    ...client,
  });
  const integrator = new NoonSession(noon, parseCredentials(sb.fixtures.integrator.key!));
  return {
    client: noon,
    oauth: new NoonOAuth({ session: integrator, clientId, clientSecret }),
    apiUsers: new NoonApiUsers({ session: integrator }),
  };
}

export type NoonParts = ReturnType<typeof noonParts>;

/** The test stacks' start rule: tenant and return path from the query (tests play the integrator's own auth). */
export const startFromQuery = (req: Request): StartParams => {
  const u = new URL(req.url);
  return {
    tenant: u.searchParams.get('tenant') ?? DEFAULT_TENANT,
    returnTo: u.searchParams.get('return_to') ?? '/',
  };
};

// --- a connector stack -------------------------------------------------------------------------------------

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

/** Endpoints of the sandbox that the connector does not call: anything else in the journal is an upstream call. */
const NOT_UPSTREAM = new Set(['admin', 'consent', 'index', 'access', 'unknown']);

export interface StackOptions extends SandboxChoice {
  store?: 'sqlite' | 'postgres';
  /** A second connector on another stack's store, vault and secret search (it closes none of them). */
  shareWith?: Stack;
  connector?: Partial<ConnectorOptions>;
  /** Serve through this adapter (default: the connect handler alone on node:http). */
  target?: AdapterTarget;
  /** Serve https with this key and certificate (node:http target only); the origin then names `host`. */
  tls?: { key: string; cert: string };
  /** Host name in the origin (default 127.0.0.1; the server always listens on 127.0.0.1). */
  host?: string;
  authorizeStart?: (request: Request) => Promise<StartParams | Response> | StartParams | Response;
  /** Wraps the connect handler before it is served (e.g. to add headers of the app's own). */
  wrapHandler?: (h: ConnectHandler) => ConnectHandler;
  /**
   * Send the Noon client's requests through a tapping fetch instead of the client's own connection pool:
   * `record` keeps a copy of every request and answer in `stack.wire` (answers are read alongside the client);
   * `search` harvests every secret that crosses into `stack.search` before the client sees the answer.
   */
  wire?: 'record' | 'search';
  /** Options of the connector's Noon client (environment, fetch under the tap, timeouts…). */
  noon?: Partial<NoonClientOptions>;
  /** The client secret the connector holds and sends, when it must differ from the registered one. */
  sendClientSecret?: string;
  /** Waits the client asks for (Retry-After, back-off) move the sandbox clock instead of sleeping. */
  clockSleeps?: boolean;
  /** Route the connector's step hook through `stack.setStepHook` (a hook per test). */
  stepHooks?: boolean;
}

export interface Stack extends ConnectTarget {
  sb: Sandbox;
  /** The store as the connector sees it: every call is recorded in `calls`. */
  store: Store;
  /** The store itself, for the test's own reads (not recorded). */
  rawStore: Store;
  vault: Vault;
  /** The vault's master key (base64); empty when it is in a PKCS#11 token (NOON_CONNECT_TEST_PKCS11=1). */
  masterKey: string;
  connector: Connector;
  handler: ConnectHandler;
  /** The connector's Noon client (its pool's stats show the calls in flight). */
  client: NoonClient;
  /** The integrator-side Noon parts the connector uses (to act upstream "outside" the connector). */
  parts: NoonParts;
  server: Server;
  /** The connector's origin, e.g. http://127.0.0.1:PORT */
  origin: string;
  callbackUrl: string;
  clientId: string;
  /** The secret the sandbox registered for the client. */
  clientSecret: string;
  /** The secret the connector holds and sends. */
  sentClientSecret: string;
  /** The adapter serving the handler. */
  target: AdapterTarget['name'] | 'handler';
  logs: unknown[];
  events: ConnectEvent[];
  /** Errors the handler reported through `onError` (a 500 page would hide a bug behind a refusal). */
  errors: unknown[];
  /** Every store call the connector made since the stack was built. */
  calls: StoreCall[];
  /** The recorded wire, with `wire: 'record'`. */
  wire: WireRecorder;
  /** Waits the client asked for (with `clockSleeps`), in ms; each moved the sandbox clock instead. */
  waits: number[];
  /** Pages its browsers read (`stack.browser()`, `connectThrough`). */
  pages: Page[];
  /** Codes and states the test handled. */
  handled: Secret[];
  /** Secrets of the fixtures, the trips and (with `wire: 'search'`) the wire, and the texts to search for them. */
  search: SecretSearch;
  /** SQLite: the database file. */
  file?: string;
  /** Postgres: the schema. */
  schema?: string;
  browser(): Browser;
  setStepHook(
    fn: ((step: Step, a: { id: string; tenant: string }) => void | Promise<void>) | undefined,
  ): void;
  /** Every secret known so far: the client secrets, the integrator key, the wire's and the handled ones. */
  secrets(): Promise<Secret[]>;
  /** A position in the sandbox journal; pass it to `upstreamSince`. */
  journalMark(): number;
  /** Requests the connector sent to Noon since `mark`. */
  upstreamSince(mark: number, endpoint?: string): JournalEntry[];
  /** A consent through the sandbox admin (as if the seller approved); the code is registered as a secret. */
  authorize(state: string, o?: { projectCode?: string; email?: string }): string;
  /** GET (or another method) as `browser`; the page is read and captured for the secret search. */
  request(
    browser: Browser,
    url: string,
    init?: { method?: string; headers?: Record<string, string> },
  ): Promise<Received>;
  /** Starts a connect as `browser`; returns the state (registered as a secret) and the start page. */
  start(browser: Browser, query?: Record<string, string>): Promise<{ state: string; res: Received }>;
  /** A callback URL with the given query pairs, in order. */
  callback(pairs: [string, string][]): string;
  /** The callback URL Noon redirects to, with a code and the state. */
  codeCallback(code: string, state: string): string;
  close(): Promise<void>;
}

/** A page a stack's `request` read (and captured for the secret search). */
export type Received = Page;

async function serveHandler(
  handler: ConnectHandler,
  o: StackOptions,
): Promise<{ server: Server; origin: string; close(): Promise<void> }> {
  if (o.target) {
    if (o.tls) throw new TypeError('tls is for the node:http target only');
    return o.target.serve(handler);
  }
  const listener = toNodeListener(handler);
  const server: Server = o.tls
    ? (createHttpsServer({ key: o.tls.key, cert: o.tls.cert }, listener) as unknown as Server)
    : createServer(listener);
  const l = await listen(server);
  return {
    server,
    origin: `${o.tls ? 'https' : 'http'}://${o.host ?? '127.0.0.1'}:${l.port}`,
    close: l.close,
  };
}

/** A connect stack on fresh parts (or shared ones, as the options say); `close()` ends what it started. */
export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const sandbox = o.shareWith ? { sb: o.shareWith.sb, close: async () => {} } : await sandboxFor(o);
  const sb = sandbox.sb;
  const logs: unknown[] = [];
  const events: ConnectEvent[] = [];
  const errors: unknown[] = [];
  const calls: StoreCall[] = [];
  const pages: Page[] = [];
  const handled: Secret[] = [];
  const waits: number[] = [];
  const wire = new WireRecorder();
  const search = o.shareWith?.search ?? new SecretSearch();
  search.watch(`logs(${o.connector?.environment ?? 'sandbox'})`, logs);

  let data: { rawStore: Store; vault: Vault; masterKey: string; file?: string; schema?: string };
  let dropStore = async () => {};
  if (o.shareWith) {
    const s = o.shareWith;
    data = {
      rawStore: s.rawStore,
      vault: s.vault,
      masterKey: s.masterKey,
      ...(s.file ? { file: s.file } : {}),
      ...(s.schema ? { schema: s.schema } : {}),
    };
  } else {
    // NOON_CONNECT_TEST_PKCS11=1: the master key is the token's (see pkcs11-switch.ts).
    const fresh = await (testPkcs11() ? freshStoreWithTokenVault : freshStoreWithVault)(o.store);
    data = {
      rawStore: fresh.store,
      vault: fresh.vault,
      masterKey: fresh.masterKey,
      ...(fresh.file ? { file: fresh.file } : {}),
      ...(fresh.schema ? { schema: fresh.schema } : {}),
    };
    dropStore = async () => {
      await fresh.store.close();
      await fresh.drop();
    };
  }
  const store = recordingStore(data.rawStore, calls);

  // The server starts first so the OAuth client can be registered with its callback URL.
  let handler: ConnectHandler | undefined;
  const served = await serveHandler(async (req) => handler!(req), o);
  const callbackUrl = `${served.origin}/connect/callback`;
  const registered = registerClient(sb, [callbackUrl]);
  search.add('client secret', registered.clientSecret);
  const integratorPem = sb.fixtures.integrator.key!.private_key;
  search.addPem(integratorPem);
  const sentClientSecret = o.sendClientSecret ?? registered.clientSecret;

  const clientOptions: Partial<NoonClientOptions> = { ...o.noon };
  const base = o.noon?.fetch ?? ((input, init) => fetch(input, init));
  if (o.wire === 'record') clientOptions.fetch = wire.tap(base);
  if (o.wire === 'search') clientOptions.fetch = search.tap(base);
  if (o.clockSleeps)
    // Retry-After is honoured by moving the sandbox's clock, never by sleeping.
    clientOptions.sleep = async (ms: number) => {
      waits.push(ms);
      sb.clock.advance(ms);
    };
  const parts = noonParts(sb, registered.clientId, sentClientSecret, logs, clientOptions);
  let stepHook: Parameters<Stack['setStepHook']>[0];
  const own = o.connector ?? {};
  const connector = await createConnector({
    noon: parts,
    store,
    vault: data.vault,
    environment: 'sandbox',
    publicUrl: served.origin,
    clock: { now: () => sb.clock.now() },
    logger: (e: unknown) => logs.push(e),
    slotWaitMs: 5000,
    ...own,
    onEvent: (e) => {
      events.push(e);
      own.onEvent?.(e);
    },
    ...(o.stepHooks
      ? {
          stepHook: async (step: Step, a: { id: string; tenant: string }) => {
            await own.stepHook?.(step, a);
            await stepHook?.(step, a);
          },
        }
      : {}),
  });
  const inner = createConnectHandler({
    connector,
    authorizeStart: o.authorizeStart ?? startFromQuery,
    onError: (e) => {
      errors.push(e);
      search.captureError('handler onError', e);
    },
  });
  handler = o.wrapHandler ? o.wrapHandler(inner) : inner;
  // Building the connector read and wrote the state key: only what the tests cause is of interest.
  calls.length = 0;

  let closing: Promise<void> | undefined;
  let seen = 0;
  const stack: Stack = {
    sb,
    store,
    rawStore: data.rawStore,
    vault: data.vault,
    masterKey: data.masterKey,
    connector,
    handler,
    client: parts.client,
    parts,
    server: served.server,
    origin: served.origin,
    callbackUrl,
    clientId: registered.clientId,
    clientSecret: registered.clientSecret,
    sentClientSecret,
    target: o.target?.name ?? 'handler',
    logs,
    events,
    errors,
    calls,
    wire,
    waits,
    pages,
    handled,
    search,
    ...(data.file ? { file: data.file } : {}),
    ...(data.schema ? { schema: data.schema } : {}),
    browser: () => new Browser({ onPage: (p) => pages.push(p) }),
    setStepHook(fn) {
      if (!o.stepHooks) throw new TypeError('start the stack with stepHooks: true');
      stepHook = fn;
    },
    async secrets() {
      await wire.settled();
      return [
        { label: 'client secret', value: registered.clientSecret },
        { label: 'client secret sent', value: sentClientSecret },
        ...pemSecrets('integrator key', integratorPem),
        ...handled,
        ...wireSecrets(wire),
      ];
    },
    authorize(state, a = {}) {
      const { code } = sb.authorize({
        clientId: registered.clientId,
        state,
        redirectUri: callbackUrl,
        ...(a.projectCode ? { projectCode: a.projectCode } : {}),
        ...(a.email ? { email: a.email } : {}),
      });
      search.add('code', code);
      return code;
    },
    async request(browser, url, init = {}) {
      const page = await browser.page(url, init);
      search.captureResponse(
        `response #${++seen} ${init.method ?? 'GET'} ${new URL(url).pathname}`,
        page.status,
        page.headers,
        page.text,
      );
      return page;
    },
    async start(browser, query = {}) {
      const q = new URLSearchParams({ tenant: DEFAULT_TENANT, ...query });
      const page = await browser.page(`${served.origin}/connect/start?${q}`);
      if (page.status !== 303) throw new Error(`start answered ${page.status}: ${page.text}`);
      const url = new URL(page.location!);
      const state = url.searchParams.get('state') ?? '';
      search.add('state', state);
      // The authorize URL carries the state to Noon by design; everything else in the answer is searched.
      url.searchParams.set('state', '[the state]');
      const headers = new Headers(page.headers);
      headers.set('location', url.toString());
      search.captureResponse(`response #${++seen} GET /connect/start`, page.status, headers, page.text);
      return { state, res: page };
    },
    callback: (pairs) =>
      `${callbackUrl}?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`,
    codeCallback: (code, state) =>
      stack.callback([
        ['code', code],
        ['state', state],
      ]),
    journalMark: () => sb.journal.lastSeq,
    upstreamSince: (mark, endpoint) =>
      sb.journal
        .entries({ sinceSeq: mark, ...(endpoint ? { endpoint } : {}) })
        .filter((e) => !NOT_UPSTREAM.has(e.endpoint)),
    close() {
      closing ??= (async () => {
        await served.close();
        await connector.drain();
        await parts.client.close();
        await dropStore();
        await sandbox.close();
      })();
      return closing;
    },
  };
  return stack;
}

/** Store calls made since index `from` (method names only). */
export function methodsSince(stack: Stack, from: number): string[] {
  return stack.calls.slice(from).map((c) => c.method);
}

/** The fixed secrets of a stack (client secret, integrator key text), for a quick secret search. */
export function stackSecrets(stack: Stack): string[] {
  const key = stack.sb.fixtures.integrator.key!;
  return [stack.clientSecret, key.private_key, ...key.private_key.split('\n').filter((l) => l.length > 40)];
}

/**
 * A sandbox and a stack for a whole test file, handed to `bind` once started; after every test the secret
 * search must find nothing and no request may have reached the handler's unexpected-error path.
 */
export function useFileStack(bind: (sb: Sandbox, stack: Stack) => void, o: StackOptions = {}): void {
  let sb: Sandbox | undefined;
  let stack: Stack | undefined;
  beforeAll(async () => {
    sb = await startSandbox();
    stack = await startStack({ wire: 'search', ...o, sandbox: sb });
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

// --- a service stack ---------------------------------------------------------------------------------------

export interface ServiceStack extends ConnectTarget {
  sb: Sandbox;
  service: Service;
  /** The service's origin, e.g. http://127.0.0.1:PORT (also its public URL). */
  url: string;
  origin: string;
  callbackUrl: string;
  /** The dashboard sign-in token (undefined when the environment left it out, as dev may). */
  adminToken: string | undefined;
  /** The REST API bearer token (undefined when the environment left it out, as dev may). */
  apiToken: string | undefined;
  clientId: string;
  clientSecret: string;
  /** The master key (base64) the service's vault uses; empty when it is in a PKCS#11 token. */
  masterKey: string;
  /** The environment the service was configured from (secrets included: for secret searches). */
  env: Record<string, string | undefined>;
  /** Every log line the service wrote (pino JSON unless NOON_CONNECT_LOG says otherwise). */
  logs: string[];
  /** The folder holding the SQLite store (and anything else the test wants to keep beside it). */
  dataDir: string;
  close(): Promise<void>;
}

export interface ServiceStackOptions extends SandboxChoice {
  /** Environment overrides; a key set to undefined removes the default (e.g. the admin token in dev). */
  env?: Record<string, string | undefined>;
  /** Service deps; `clock` defaults to the sandbox's clock, `logDestination` to the captured `logs`. */
  deps?: ServiceDeps;
  /** The store: SQLite in a temp folder (default) or a fresh Postgres schema (the caller checks availability). */
  store?: 'sqlite' | 'postgres';
  /**
   * The host name in the public URL (default 127.0.0.1; the service still binds 127.0.0.1). `localhost` puts the
   * service on another site than the sandbox, so a browser treats the trip through noon as cross-site.
   */
  publicHost?: string;
}

/** A token long enough for the config's 24-character minimum. */
export function randomToken(prefix: string): string {
  return `${prefix}-${randomBytes(24).toString('base64url')}`;
}

/** The whole service on the harness's parts: configured from the environment it would read in production. */
export async function startServiceStack(o: ServiceStackOptions = {}): Promise<ServiceStack> {
  const sandbox = await sandboxFor(o);
  const sb = sandbox.sb;
  const dataDir = tempDir('nc-service-');
  const logs: string[] = [];
  const logDestination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(line);
      done();
    },
  });
  let dropSchema: () => Promise<void> = async () => {};
  let storeUrl = `sqlite:${join(dataDir, 'connect.db')}`;
  if (o.store === 'postgres') {
    const schema = freshSchemaName();
    const u = new URL(PG_URL);
    u.searchParams.set('schema', schema);
    storeUrl = u.toString();
    dropSchema = async () => {
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    };
  }
  const masterKey = testPkcs11() ? '' : randomBytes(32).toString('base64');
  const keyFile = sb.fixtures.integrator.keyFile;
  if (!keyFile) throw new Error('the sandbox wrote no integrator key file');

  // The service's port is part of its callback URL, so it is chosen first; another process may take it between
  // the probe and the listen: try a few ports.
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const url = `http://${o.publicHost ?? '127.0.0.1'}:${port}`;
    const client = registerClient(sb, [`${url}/connect/callback`], 'Test Connect Service');
    const env: Record<string, string | undefined> = {
      NOON_CONNECT_MODE: 'production',
      NOON_CONNECT_HOST: '127.0.0.1',
      NOON_CONNECT_PORT: String(port),
      NOON_CONNECT_PUBLIC_URL: url,
      NOON_ENV: 'local',
      NOON_LOCAL_URL: sb.url,
      NOON_CLIENT_ID: client.clientId,
      NOON_CLIENT_SECRET: client.clientSecret,
      NOON_KEY_FILE: keyFile,
      NOON_CONNECT_STORE: storeUrl,
      ...(testPkcs11() ? testPkcs11Env() : { NOON_CONNECT_MASTER_KEY: masterKey }),
      NOON_CONNECT_ADMIN_TOKEN: randomToken('admin'),
      NOON_CONNECT_API_TOKEN: randomToken('api'),
      NOON_CONNECT_LOG: 'json',
      NOON_CONNECT_LOG_LEVEL: 'debug',
      ...o.env,
    };
    const config = parseConfig(env);
    let service: Service;
    try {
      service = await createService(config, {
        clock: { now: () => sb.clock.now() },
        logDestination,
        ...o.deps,
      });
    } catch (e) {
      lastError = e;
      if (e instanceof StartupError && e.code === 'LISTEN') continue;
      await sandbox.close();
      await dropSchema().catch(() => {});
      throw e;
    }
    const origin = o.publicHost ? url : service.url;
    return {
      sb,
      service,
      url: origin,
      origin,
      callbackUrl: `${url}/connect/callback`,
      adminToken: config.adminToken,
      apiToken: config.apiToken,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      masterKey,
      env,
      logs,
      dataDir,
      async close() {
        await service.close();
        await dropSchema().catch(() => {});
        await sandbox.close();
      },
    };
  }
  await sandbox.close();
  throw lastError;
}
