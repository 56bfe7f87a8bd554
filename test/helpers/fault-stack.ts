// A connect stack for upstream-fault and secret tests: like `startStack`, but the client's wire is recorded
// (every request and answer, so the test knows each secret that crossed it: codes, access tokens, PEMs, session
// cookies, login JWTs), waits for Retry-After move the sandbox clock instead of sleeping, the client secret the
// connector sends can be made wrong, events and result pages are captured, and a step hook can be set per test.

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { FetchLike, NoonClient } from '../../src/client/index.js';
import { sha256Hex } from '../../src/connect/binding.js';
import {
  type ConnectEvent,
  type Connector,
  type ConnectorOptions,
  createConnector,
  type Step,
} from '../../src/connect/index.js';
import { createConnectHandler, toNodeListener } from '../../src/http/index.js';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/index.js';
import type { Attempt, Store } from '../../src/store/index.js';
import type { Vault } from '../../src/vault/index.js';
import { noonParts, startFromQuery, testConnectorOptions } from './connect.js';
import { PEM_PRIVATE_ARMOUR } from './pem.js';
import { startSandbox } from './sandbox.js';
import { freshStoreWithVault } from './stores.js';

// --- the recorded wire -------------------------------------------------------------------------------

export interface WireRecord {
  seq: number;
  path: string;
  requestBody: string | undefined;
  requestCookie: string | undefined;
  status: number | undefined;
  responseBody: string | undefined;
  setCookies: string[];
  /** performance.now() when the request was handed to fetch. */
  startedAt: number;
  /** When the answer was complete, or the request failed. */
  endedAt: number | undefined;
  failed: boolean;
  done: Promise<void>;
}

/** A fetch that keeps a copy of every request and answer the client exchanges with the sandbox. */
export class WireRecorder {
  readonly records: WireRecord[] = [];
  #seq = 0;

  readonly fetch: FetchLike = async (input, init) => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    const rec: WireRecord = {
      seq: ++this.#seq,
      path: new URL(input).pathname,
      requestBody: typeof init.body === 'string' ? init.body : undefined,
      requestCookie: headers.cookie,
      status: undefined,
      responseBody: undefined,
      setCookies: [],
      startedAt: performance.now(),
      endedAt: undefined,
      failed: false,
      done: Promise.resolve(),
    };
    this.records.push(rec);
    let res: Response;
    try {
      res = await fetch(input, init);
    } catch (e) {
      rec.endedAt = performance.now();
      rec.failed = true;
      throw e;
    }
    rec.status = res.status;
    rec.setCookies = res.headers.getSetCookie();
    const copy = res.clone();
    rec.done = copy.text().then(
      (t) => {
        rec.responseBody = t;
        rec.endedAt = performance.now();
      },
      () => {
        rec.failed = true;
        rec.endedAt = performance.now();
      },
    );
    return res;
  };

  /** Records whose path ends with `suffix` (e.g. `/token/exchange`). */
  to(suffix: string): WireRecord[] {
    return this.records.filter((r) => r.path.endsWith(suffix));
  }

  async settled(): Promise<void> {
    await Promise.all(this.records.map((r) => r.done));
  }
}

// --- secrets -----------------------------------------------------------------------------------------

export interface Secret {
  /** What it is, safe to print (never the value). */
  label: string;
  value: string;
}

const SECRET_FIELDS = new Set(['access_token', 'private_key', 'code', 'client_secret', 'token']);
/** Any PEM private key header or footer: PEM text where none may be. */
export const PEM_MARKER = PEM_PRIVATE_ARMOUR;

function pemSecrets(label: string, pem: string): Secret[] {
  const out: Secret[] = [{ label, value: pem }];
  for (const [i, line] of pem.split(/\r?\n/).entries()) {
    // Base64 body lines (and the short last one); the BEGIN/END lines are caught by PEM_MARKER.
    if (line.length >= 16 && !line.startsWith('-----'))
      out.push({ label: `${label} line ${i}`, value: line });
  }
  return out;
}

function walk(v: unknown, visit: (key: string, value: string) => void, key = ''): void {
  if (typeof v === 'string') visit(key, v);
  else if (Array.isArray(v)) for (const x of v) walk(x, visit, key);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, visit, k);
}

function jsonOrUndefined(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Every secret value that crossed the recorded wire. */
export function wireSecrets(recorder: WireRecorder): Secret[] {
  const out: Secret[] = [];
  for (const r of recorder.records) {
    const where = `${r.path}#${r.seq}`;
    for (const [side, body] of [
      ['request', r.requestBody],
      ['response', r.responseBody],
    ] as const) {
      walk(jsonOrUndefined(body), (k, v) => {
        if (k === 'private_key' || PEM_MARKER.test(v)) out.push(...pemSecrets(`${side} ${k} of ${where}`, v));
        else if (SECRET_FIELDS.has(k) && v.length >= 8) {
          out.push({ label: `${side} ${k} of ${where}`, value: v });
          // A JWT's signature alone identifies it as well as the whole token.
          const sig = v.split('.')[2];
          if (sig && sig.length >= 16) out.push({ label: `${side} ${k} signature of ${where}`, value: sig });
        }
      });
    }
    for (const c of r.setCookies) {
      const pair = c.split(';')[0] ?? '';
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value.length >= 8)
        out.push({ label: `cookie ${pair.slice(0, pair.indexOf('='))} of ${where}`, value });
    }
  }
  return out;
}

/** Labels of the secrets found in `text` (values are never returned, so a failing assertion prints none). */
export function leaks(text: string | Buffer, secrets: readonly Secret[]): string[] {
  const hay = typeof text === 'string' ? Buffer.from(text) : text;
  const found = new Set<string>();
  if (PEM_MARKER.test(hay.toString('latin1'))) found.add('PEM header or footer');
  for (const s of secrets) if (hay.includes(s.value)) found.add(s.label);
  return [...found];
}

/** The files under a folder (recursively), for the at-rest search. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

export function readAll(files: readonly string[]): { file: string; bytes: Buffer }[] {
  return files.map((file) => ({ file, bytes: readFileSync(file) }));
}

// --- pages -------------------------------------------------------------------------------------------

export interface Page {
  url: string;
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/** A browser with a cookie jar that never follows redirects and keeps every page it was shown. */
export class PageBrowser {
  readonly cookies = new Map<string, string>();
  readonly #pages: Page[];

  constructor(pages: Page[]) {
    this.#pages = pages;
  }

  async get(url: string): Promise<Page> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const page = {
      url,
      status: res.status,
      headers: res.headers,
      text: await res.text(),
      location: res.headers.get('location'),
    };
    this.#pages.push(page);
    return page;
  }
}

// --- the stack ---------------------------------------------------------------------------------------

export interface FaultStackOptions {
  store?: 'sqlite' | 'postgres';
  /** Reuse a sandbox (not closed with the stack). */
  sandbox?: Sandbox;
  sandboxOptions?: SandboxOptions;
  /** The client secret the connector sends, when it must differ from the registered one. */
  sendClientSecret?: string;
  connector?: Partial<ConnectorOptions>;
}

export interface FaultStack {
  sb: Sandbox;
  store: Store;
  vault: Vault;
  connector: Connector;
  client: NoonClient;
  server: Server;
  origin: string;
  callbackUrl: string;
  clientId: string;
  /** The secret the sandbox registered for the client. */
  clientSecret: string;
  /** The secret the connector holds and sends. */
  sentClientSecret: string;
  logs: unknown[];
  events: ConnectEvent[];
  pages: Page[];
  wire: WireRecorder;
  /** Waits the client asked for (Retry-After, back-off), in ms; each moved the sandbox clock instead. */
  waits: number[];
  /** Codes and states the test handled. */
  handled: Secret[];
  /** SQLite: the database file. */
  file?: string;
  /** Postgres: the schema. */
  schema?: string;
  setStepHook(
    fn: ((step: Step, a: { id: string; tenant: string }) => void | Promise<void>) | undefined,
  ): void;
  browser(): PageBrowser;
  /** Every secret known so far: the client secrets, the integrator key, the wire's and the handled ones. */
  secrets(): Promise<Secret[]>;
  close(): Promise<void>;
}

export async function startFaultStack(o: FaultStackOptions = {}): Promise<FaultStack> {
  const sb = o.sandbox ?? (await startSandbox(o.sandboxOptions));
  const logs: unknown[] = [];
  const events: ConnectEvent[] = [];
  const pages: Page[] = [];
  const waits: number[] = [];
  const handled: Secret[] = [];
  const wire = new WireRecorder();
  const { store, vault, file, schema, drop } = await freshStoreWithVault(o.store);

  let handler: ReturnType<typeof createConnectHandler> | undefined;
  const server = createServer(toNodeListener(async (req) => handler!(req)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const callbackUrl = `${origin}/connect/callback`;
  const registered = sb.addClient({
    client_id: `c-${randomBytes(4).toString('hex')}`,
    name: 'Fault Test Connect',
    redirect_uris: [callbackUrl],
  });
  const sentClientSecret = o.sendClientSecret ?? registered.clientSecret;

  const parts = noonParts(sb, registered.clientId, sentClientSecret, logs, {
    fetch: wire.fetch,
    // Retry-After is honoured by moving the sandbox's clock, never by sleeping.
    sleep: async (ms: number) => {
      waits.push(ms);
      sb.clock.advance(ms);
    },
  });
  const client = parts.client;
  let stepHook: Parameters<FaultStack['setStepHook']>[0];
  const connector = await createConnector({
    noon: parts,
    store,
    vault,
    ...testConnectorOptions(sb, origin, logs),
    onEvent: (e) => events.push(e),
    stepHook: async (step, a) => {
      await stepHook?.(step, a);
    },
    ...o.connector,
  });
  handler = createConnectHandler({ connector, authorizeStart: startFromQuery });

  const integratorPem = sb.fixtures.integrator.key!.private_key;
  let closing: Promise<void> | undefined;
  return {
    sb,
    store,
    vault,
    connector,
    client,
    server,
    origin,
    callbackUrl,
    clientId: registered.clientId,
    clientSecret: registered.clientSecret,
    sentClientSecret,
    logs,
    events,
    pages,
    wire,
    waits,
    handled,
    ...(file ? { file } : {}),
    ...(schema ? { schema } : {}),
    setStepHook(fn) {
      stepHook = fn;
    },
    browser: () => new PageBrowser(pages),
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
    close() {
      closing ??= (async () => {
        await new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        await client.close();
        await store.close();
        await drop();
        if (!o.sandbox) await sb.close();
      })();
      return closing;
    },
  };
}

/** The SQLite file's folder (database, -wal, -shm and anything else the connector wrote there). */
export function dataFolder(stack: FaultStack): string {
  if (!stack.file) throw new TypeError('not a SQLite stack');
  return dirname(stack.file);
}

/**
 * The secret search every case runs: which known secrets (client secrets, the integrator key, codes, states,
 * access tokens, PEMs, session cookies, login JWTs) appear in any log line, result page or redirect, event (hook
 * or outbox), attempt error field, the sandbox journal, or the extra texts (error messages) given. Empty when
 * none; entries name the secret and the place, never the value.
 */
export async function leakReport(
  s: FaultStack,
  extra: { label: string; text: string }[] = [],
): Promise<string[]> {
  const secrets = await s.secrets();
  const texts: { label: string; text: string }[] = [
    ...s.logs.map((l, i) => ({ label: `log line ${i}`, text: JSON.stringify(l) })),
    // The start redirect carries the state to Noon by design; every other page and redirect is checked.
    ...s.pages
      .filter((p) => !(p.location ?? '').startsWith(s.sb.url))
      .map((p) => ({ label: `page ${p.url.replace(/\?.*/, '')}`, text: `${p.location ?? ''}\n${p.text}` })),
    ...s.events.map((e) => ({ label: `event ${e.type}`, text: JSON.stringify(e) })),
    ...(await s.store.listEvents({ limit: 10_000 })).map((e) => ({
      label: `outbox ${e.type}`,
      text: e.payload,
    })),
    ...(await s.store.listAttempts({ limit: 10_000 })).map((a) => ({
      label: `attempt ${a.id} errors`,
      text: `${a.errorCode ?? ''} ${a.errorDetail ?? ''}`,
    })),
    { label: 'sandbox journal', text: JSON.stringify(s.sb.journal.entries()) },
    ...extra,
  ];
  return texts.flatMap((t) => leaks(t.text, secrets).map((what) => `${what} in ${t.label}`));
}

// --- one connect, as a browser -------------------------------------------------------------------------

export interface ConnectResult {
  state: string;
  code: string;
  oauthRequestId: string | undefined;
  start: Page;
  callback: Page;
  /** The page the callback redirected to, when it redirected. */
  done: Page | undefined;
  attempt: Attempt;
}

/**
 * start → consent (through the sandbox, for `projectCode`) → callback → the done page when redirected there.
 * `code` replaces the code Noon would have issued (e.g. one it never issued).
 */
export async function connectThrough(
  stack: FaultStack,
  o: { tenant: string; projectCode?: string; code?: string; browser?: PageBrowser },
): Promise<ConnectResult> {
  const browser = o.browser ?? stack.browser();
  const start = await browser.get(
    `${stack.origin}/connect/start?${new URLSearchParams({ tenant: o.tenant })}`,
  );
  if (start.status !== 303 || !start.location) throw new Error(`start answered ${start.status}`);
  const state = new URL(start.location).searchParams.get('state')!;
  stack.handled.push({ label: `state for ${o.tenant}`, value: state });
  let code = o.code;
  let oauthRequestId: string | undefined;
  if (code === undefined) {
    const a = stack.sb.authorize({
      clientId: stack.clientId,
      state,
      redirectUri: stack.callbackUrl,
      ...(o.projectCode ? { projectCode: o.projectCode } : {}),
    });
    code = a.code;
    oauthRequestId = a.oauthRequestId;
  }
  stack.handled.push({ label: `code for ${o.tenant}`, value: code });
  const callback = await browser.get(
    `${stack.callbackUrl}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`,
  );
  const done =
    callback.status === 303 && callback.location
      ? await browser.get(new URL(callback.location, stack.origin).href)
      : undefined;
  const hash = sha256Hex(state);
  const attempt = (await stack.store.listAttempts({ tenant: o.tenant, limit: 1000 })).find(
    (a) => a.stateHash === hash,
  );
  if (!attempt) throw new Error('no attempt recorded for the state');
  return { state, code, oauthRequestId, start, callback, done, attempt };
}

/** A seller with a project of its own, so each test's keys and key slots are its own. */
export function freshSeller(sb: Sandbox, tag: string): string {
  const projectCode = `PRJ${tag}${randomBytes(3).toString('hex')}`;
  sb.addSeller({
    email: `${projectCode.toLowerCase()}@sellers.example`,
    projects: [{ project_code: projectCode }],
  });
  return projectCode;
}
