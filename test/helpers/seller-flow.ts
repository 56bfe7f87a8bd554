// A seller's side of a connect, as tests drive it: a browser with a cookie jar that never follows redirects, a
// fresh seller project in the sandbox, and the one trip through start → consent (approved or denied through the
// sandbox, as if the seller had clicked) → callback → done page, against a connect stack, a service, or a
// connector in a child process.

import { createHash, randomBytes } from 'node:crypto';
import type { Sandbox } from '../../src/sandbox/index.js';
import type { Store } from '../../src/store/index.js';
import type { SecretSearch } from './secret-search.js';
import type { Secret } from './wire.js';

/** A page as the browser saw it, body read. */
export interface Page {
  url: string;
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/** A browser: keeps cookies per name, never follows redirects by itself, and can report every page it reads. */
export class Browser {
  readonly cookies = new Map<string, string>();
  readonly #onPage: ((p: Page) => void) | undefined;

  constructor(o: { onPage?: (p: Page) => void } = {}) {
    this.#onPage = o.onPage;
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** One request; the answer's body is left unread. */
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
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  }

  /** One request whose page is read (and reported). */
  async page(url: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Page> {
    const res = await this.get(url, init);
    const page: Page = {
      url,
      status: res.status,
      headers: res.headers,
      text: await res.text(),
      location: res.headers.get('location'),
    };
    this.#onPage?.(page);
    return page;
  }
}

export interface Seller {
  email: string;
  password: string;
  projectCode: string;
}

/** A seller with a project of its own, so each test's service account, keys and key slots are its own. */
export function freshSeller(sb: Sandbox, tag = ''): Seller {
  const projectCode = `PRJ${tag}${randomBytes(4).toString('hex').toUpperCase()}`;
  const s = sb.addSeller({
    email: `${projectCode.toLowerCase()}@sellers.example`,
    projects: [{ project_code: projectCode }],
  });
  return { email: s.email, password: s.password, projectCode };
}

/** The tenant a trip connects for unless it names one (the test stacks' start rule reads it from the query). */
export const DEFAULT_TENANT = 'tenant-1';

/** What a seller's trip needs to know of the integrator's side: a stack, a service, or a bench of children. */
export interface ConnectTarget {
  sb: Sandbox;
  clientId: string;
  /** The connector's origin, where `/connect/start` lives. */
  origin: string;
  callbackUrl: string;
  /** A browser of the target's own (one that records its pages), used unless the trip brings one. */
  browser?: () => Browser;
  /** When the target can look attempts up by state, the trip reports its attempt id from the store. */
  rawStore?: Store;
  /** Codes and states the trip handles are registered here, for the secret searches. */
  handled?: Secret[];
  search?: SecretSearch;
}

export interface TripOptions {
  tenant?: string;
  returnTo?: string;
  /** Where the trip starts (default `<origin>/connect/start?tenant=…`): a signed connect link, say. */
  startUrl?: string;
  /** The callback URL of this trip, when the target serves more than one. */
  callbackUrl?: string;
  /** The project the seller grants (default: the sandbox's choice for the seller). */
  projectCode?: string;
  email?: string;
  /** A code Noon never issued, sent instead of consenting. */
  code?: string;
  /** The seller denies: the callback carries `error=access_denied` and the state. */
  deny?: boolean;
  browser?: Browser;
}

export interface Begun {
  browser: Browser;
  start: Page;
  authorizeUrl: URL;
  state: string;
  /** The code sent to the callback (undefined when the seller denied). */
  code: string | undefined;
  oauthRequestId: string | undefined;
  /** The callback URL the browser is sent to, code (or error) and state in its query. */
  callbackUrl: string;
}

export interface Trip extends Begun {
  callback: Page;
  /** The done page, when the callback redirected there. */
  done: Page | undefined;
  /** The attempt the trip made: from the store when the target has one, else from the redirect. */
  attemptId: string | undefined;
}

/** start → consent, stopping before the callback is visited. */
export async function beginConnect(t: ConnectTarget, o: TripOptions = {}): Promise<Begun> {
  const browser = o.browser ?? t.browser?.() ?? new Browser();
  const tenant = o.tenant ?? DEFAULT_TENANT;
  const q = new URLSearchParams({ tenant });
  if (o.returnTo) q.set('return_to', o.returnTo);
  const start = await browser.page(o.startUrl ?? `${t.origin}/connect/start?${q}`);
  if (start.status !== 303 || !start.location)
    throw new Error(`start answered ${start.status}: ${start.text}`);
  const authorizeUrl = new URL(start.location);
  const state = authorizeUrl.searchParams.get('state');
  if (!state) throw new Error('the start redirect carries no state');
  t.handled?.push({ label: `state for ${tenant}`, value: state });
  t.search?.add('state', state);
  const callbackUrl = o.callbackUrl ?? t.callbackUrl;
  let code = o.code;
  let oauthRequestId: string | undefined;
  if (!o.deny && code === undefined) {
    const a = t.sb.authorize({
      clientId: t.clientId,
      state,
      redirectUri: callbackUrl,
      ...(o.projectCode ? { projectCode: o.projectCode } : {}),
      ...(o.email ? { email: o.email } : {}),
    });
    code = a.code;
    oauthRequestId = a.oauthRequestId;
  }
  if (code !== undefined) {
    t.handled?.push({ label: `code for ${tenant}`, value: code });
    t.search?.add('code', code);
  }
  const query = o.deny
    ? `error=access_denied&state=${encodeURIComponent(state)}`
    : `code=${encodeURIComponent(code!)}&state=${encodeURIComponent(state)}`;
  return {
    browser,
    start,
    authorizeUrl,
    state,
    code,
    oauthRequestId,
    callbackUrl: `${callbackUrl}?${query}`,
  };
}

/** The attempt a state started, looked up in the store (which keeps the state's SHA-256, never the state). */
async function attemptOf(store: Store, tenant: string, state: string): Promise<string | undefined> {
  const hash = createHash('sha256').update(state).digest('hex');
  const attempts = await store.listAttempts({ tenant, limit: 100_000 });
  return attempts.find((a) => a.stateHash === hash)?.id;
}

/** start → consent → callback → the done page when the callback redirects there. */
export async function connectThrough(t: ConnectTarget, o: TripOptions = {}): Promise<Trip> {
  const begun = await beginConnect(t, o);
  const callback = await begun.browser.page(begun.callbackUrl);
  const loc = callback.location ?? '';
  const doneUrl = loc ? new URL(loc, begun.callbackUrl) : undefined;
  const done =
    callback.status === 303 &&
    doneUrl &&
    doneUrl.origin === new URL(t.origin).origin &&
    /\/done\//.test(doneUrl.pathname)
      ? await begun.browser.page(doneUrl.href)
      : undefined;
  const fromRedirect =
    /\/done\/([0-9a-f-]{36})/.exec(loc)?.[1] ??
    new URL(loc || 'http://x/', 'http://x').searchParams.get('connect_attempt') ??
    undefined;
  const attemptId = t.rawStore
    ? await attemptOf(t.rawStore, o.tenant ?? DEFAULT_TENANT, begun.state)
    : fromRedirect;
  if (t.rawStore && !attemptId) throw new Error('no attempt recorded for the state');
  return { ...begun, callback, done, attemptId };
}
