// A whole connect stack for tests: the sandbox, the client over the integrator's session, a store (SQLite or
// Postgres), a vault, the connector, its handler on a real node:http server, and a browser-like cookie jar.

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  NoonApiUsers,
  NoonClient,
  type NoonClientOptions,
  NoonOAuth,
  NoonSession,
  parseCredentials,
} from '../../src/client/index.js';
import { type Connector, type ConnectorOptions, createConnector } from '../../src/connect/index.js';
import { createConnectHandler, type StartParams, toNodeListener } from '../../src/http/index.js';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/index.js';
import type { Store } from '../../src/store/index.js';
import type { Vault } from '../../src/vault/index.js';
import { startSandbox, UA } from './sandbox.js';
import { freshStoreWithVault } from './stores.js';

export interface Stack {
  sb: Sandbox;
  store: Store;
  vault: Vault;
  connector: Connector;
  server: Server;
  /** The connector's origin, e.g. http://127.0.0.1:PORT */
  origin: string;
  callbackUrl: string;
  clientId: string;
  clientSecret: string;
  logs: unknown[];
  masterKey: string;
  /** The SQLite file, when the store is SQLite. */
  file?: string;
  close(): Promise<void>;
}

export interface StackOptions {
  store?: 'sqlite' | 'postgres';
  sandbox?: SandboxOptions;
  connector?: Partial<ConnectorOptions>;
  /** Reuse an existing sandbox (it is not closed with the stack). */
  sandboxInstance?: Sandbox;
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

/** The test stacks' start rule: tenant and return path from the query (tests play the integrator's own auth). */
export const startFromQuery = (req: Request): StartParams => {
  const u = new URL(req.url);
  return {
    tenant: u.searchParams.get('tenant') ?? 'tenant-1',
    returnTo: u.searchParams.get('return_to') ?? '/',
  };
};

/** Connector options every test stack shares: the sandbox environment and clock, logs captured. */
export function testConnectorOptions(sb: Sandbox, publicUrl: string, logs: unknown[]) {
  return {
    environment: 'sandbox',
    publicUrl,
    clock: { now: () => sb.clock.now() },
    logger: (e: unknown) => logs.push(e),
    slotWaitMs: 5000,
  };
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const sb = o.sandboxInstance ?? (await startSandbox(o.sandbox));
  const logs: unknown[] = [];
  const { store, vault, masterKey, file, drop: dropStore } = await freshStoreWithVault(o.store);

  // The server is started first so the client can register its callback URL.
  let handler: ReturnType<typeof createConnectHandler> | undefined;
  const listener = toNodeListener(async (req) => handler!(req));
  const server = createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const callbackUrl = `${origin}/connect/callback`;
  const client = sb.addClient({
    client_id: `c-${randomBytes(4).toString('hex')}`,
    name: 'Test Connect',
    redirect_uris: [callbackUrl],
  });

  const connector = await createConnector({
    noon: noonParts(sb, client.clientId, client.clientSecret, logs),
    store,
    vault,
    ...testConnectorOptions(sb, origin, logs),
    ...o.connector,
  });
  handler = createConnectHandler({ connector, authorizeStart: startFromQuery });
  return {
    sb,
    store,
    vault,
    connector,
    server,
    origin,
    callbackUrl,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    logs,
    masterKey,
    ...(file ? { file } : {}),
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await store.close();
      await dropStore();
      if (!o.sandboxInstance) await sb.close();
    },
  };
}

/** A browser: keeps cookies per origin, never follows redirects by itself. */
export class Browser {
  readonly cookies = new Map<string, string>();

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(
    url: string,
    init: { method?: string; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: { ...(this.cookies.size ? { cookie: this.cookieHeader() } : {}), ...(init.headers ?? {}) },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return res;
  }
}

export interface ConnectRun {
  start: Response;
  authorizeUrl: URL;
  state: string;
  code: string;
  callback: Response;
  callbackUrl: string;
  attemptId: string | undefined;
}

/** start → consent (approved through the sandbox admin) → callback, as one browser. */
export async function connectSeller(
  stack: Stack,
  o: { tenant?: string; projectCode?: string; browser?: Browser; returnTo?: string } = {},
): Promise<ConnectRun> {
  const browser = o.browser ?? new Browser();
  const q = new URLSearchParams({ tenant: o.tenant ?? 'tenant-1' });
  if (o.returnTo) q.set('return_to', o.returnTo);
  const start = await browser.get(`${stack.origin}/connect/start?${q}`);
  if (start.status !== 303) throw new Error(`start answered ${start.status}: ${await start.text()}`);
  const authorizeUrl = new URL(start.headers.get('location')!);
  const state = authorizeUrl.searchParams.get('state')!;
  const { code } = stack.sb.authorize({
    clientId: stack.clientId,
    state,
    ...(o.projectCode ? { projectCode: o.projectCode } : {}),
    redirectUri: stack.callbackUrl,
  });
  const callbackUrl = `${stack.callbackUrl}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`;
  const callback = await browser.get(callbackUrl);
  const loc = callback.headers.get('location') ?? '';
  const attemptId =
    /\/done\/([0-9a-f-]{36})/.exec(loc)?.[1] ??
    new URL(loc || 'http://x/', 'http://x').searchParams.get('connect_attempt') ??
    undefined;
  return { start, authorizeUrl, state, code, callback, callbackUrl, attemptId };
}

/** Every secret a stack's sandbox and client have handled, for the secret search. */
export function stackSecrets(stack: Stack): string[] {
  const key = stack.sb.fixtures.integrator.key!;
  return [stack.clientSecret, key.private_key, ...key.private_key.split('\n').filter((l) => l.length > 40)];
}
