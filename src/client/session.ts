// NoonSession: a logged-in service account (the integrator's own, or a seller's). Logs in with an RS256 JWT
// (NC5, NC6), keeps the session cookies (NC9, NC11), shares one login among concurrent callers, renews before
// the 30-day lifetime ends (NC4), and on a session 401 logs in again once and resends once (NC13).

import {
  errorForResponse,
  errorReason,
  invalid,
  parseJsonObject,
  type ResponseContext,
  readResponseText,
  requireString,
  requireStringArray,
  responseMeta,
} from './checks.js';
import { kSend, type NoonClient, type SendSpec, type Sent } from './client.js';
import { NoonCredentials } from './credentials.js';
import { ENDPOINTS } from './endpoints.js';
import { NoonTypeError } from './errors.js';
import { signLoginJwt } from './jwt.js';

/** Path of the service-account login under the gateway. */
export const LOGIN_PATH = '/identity/public/v1/api/login';
/** Path of whoami under the gateway (NC12). */
export const WHOAMI_PATH = '/identity/v1/whoami';

/** NC12. */
export interface Whoami {
  userCode: string;
  channelIdentifier: string;
  keyId: string;
  projectCode: string;
  projects: string[];
}

/** The answer of a generic API call. `data` is the parsed JSON body (undefined when the body is empty). */
export interface NoonApiResponse {
  status: number;
  requestId: string | undefined;
  data: unknown;
}

/** A query parameter's value: a list repeats the parameter; undefined leaves it out. */
export type QueryValue = string | number | boolean | undefined | readonly (string | number | boolean)[];

/** Options of `NoonSession.request`. */
export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  query?: Record<string, QueryValue> | URLSearchParams;
  signal?: AbortSignal;
  /**
   * Whether the call may be resent when a connection breaks after sending. Default: true for GET, HEAD and
   * OPTIONS, false otherwise (a POST that creates something must not be repeated blindly).
   */
  idempotent?: boolean;
}

interface SessionState {
  cookies: Map<string, string>;
  cookieHeader: string;
  renewAt: number;
  generation: number;
}

/** Reasons of a 401 that mean "log in again" (NC13); a 401 without any reason counts too. */
const SESSION_REASONS = new Set(['SESSION_REQUIRED', 'SESSION_EXPIRED']);

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;
const SESSION_COOKIE = '_npsid';
const MAX_COOKIES = 32;

/** Name, value and Max-Age (seconds) of a Set-Cookie line; attributes other than Max-Age/Expires are ignored. */
function parseSetCookie(
  line: string,
  nowMs: number,
): { name: string; value: string; maxAgeS?: number } | undefined {
  const parts = line.split(';');
  const pair = parts[0] ?? '';
  const eq = pair.indexOf('=');
  if (eq <= 0) return undefined;
  const name = pair.slice(0, eq).trim();
  const value = pair.slice(eq + 1).trim();
  if (!COOKIE_NAME.test(name) || /[\s;,\\"]/.test(value) || value.length > 4096) return undefined;
  let maxAgeS: number | undefined;
  for (const attr of parts.slice(1)) {
    const [k, v = ''] = attr.split('=', 2).map((s) => s.trim());
    if (k?.toLowerCase() === 'max-age' && /^-?\d+$/.test(v)) maxAgeS = Number(v);
    else if (k?.toLowerCase() === 'expires' && maxAgeS === undefined) {
      const at = Date.parse(v);
      if (Number.isFinite(at)) maxAgeS = Math.floor((at - nowMs) / 1000);
    }
  }
  return maxAgeS === undefined ? { name, value } : { name, value, maxAgeS };
}

function cookieHeader(cookies: Map<string, string>): string {
  let s = '';
  for (const [k, v] of cookies) s += `${s ? '; ' : ''}${k}=${v}`;
  return s;
}

function encodeQuery(q: RequestOptions['query']): string | undefined {
  if (q === undefined) return undefined;
  if (q instanceof URLSearchParams) return q.toString() || undefined;
  if (q === null || typeof q !== 'object')
    throw new NoonTypeError('INVALID_ARGUMENT', 'query must be an object');
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, String(x));
    else p.append(k, String(v));
  }
  return p.toString() || undefined;
}

const METHOD = /^[A-Z]{3,10}$/;

export function checkPath(path: unknown, what = 'path'): string {
  // A path, never a URL: the gateway origin is fixed, so cookies cannot be sent to another host.
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//'))
    throw new NoonTypeError('INVALID_ARGUMENT', `${what} must start with a single /`);
  if (/[\s?#\\]/.test(path) || path.length > 2048)
    throw new NoonTypeError(
      'INVALID_ARGUMENT',
      `${what} must have no spaces, ?, # or \\ (use the query option)`,
    );
  return path;
}

/** Sends with the session's cookies; for the OAuth and API User Service modules, not exported to users. */
export const kAuthed: unique symbol = Symbol('noon-connect.authed');

/** A logged-in service account: the integrator's own, or a seller's. */
export class NoonSession {
  readonly client: NoonClient;
  readonly credentials: NoonCredentials;
  /** `default_project_code` sent at login (NC5); default: the key file's project. */
  readonly projectCode: string;
  #state: SessionState | undefined;
  #pending: Promise<SessionState> | undefined;
  #generation = 0;

  constructor(client: NoonClient, credentials: NoonCredentials, options: { projectCode?: string } = {}) {
    if (!client || typeof (client as { [kSend]?: unknown })[kSend] !== 'function')
      throw new NoonTypeError('INVALID_ARGUMENT', 'NoonSession needs a NoonClient');
    if (!(credentials instanceof NoonCredentials))
      throw new NoonTypeError('INVALID_ARGUMENT', 'NoonSession needs credentials from loadCredentials()');
    const projectCode = options.projectCode ?? credentials.projectCode;
    if (typeof projectCode !== 'string' || projectCode === '')
      throw new NoonTypeError('INVALID_ARGUMENT', 'projectCode must be a non-empty string');
    this.client = client;
    this.credentials = credentials;
    this.projectCode = projectCode;
  }

  /** Whether a session is held that the clock says is still good. */
  get loggedIn(): boolean {
    return this.#current() !== undefined;
  }

  /** Logs in now, replacing any session held; concurrent callers share the one login. */
  async login(): Promise<void> {
    const s = this.#state;
    if (s) await this.#relogin(s.generation);
    else await this.#ensure();
  }

  /** Forgets the session cookies (Noon has no documented logout). */
  logout(): void {
    this.#state = undefined;
  }

  /** NC12: who this session belongs to. */
  async whoami(options: { signal?: AbortSignal } = {}): Promise<Whoami> {
    const sent = await this[kAuthed]({
      endpoint: ENDPOINTS.whoami,
      method: 'GET',
      path: WHOAMI_PATH,
      repeatable: true,
      signal: options.signal,
    });
    return whoamiFrom(sent.status, sent.body.toString('utf8'), sent.requestId, sent.retryAfter);
  }

  /** Any Noon API call with this session's cookies. Throws a NoonError for any non-2xx answer. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<NoonApiResponse> {
    if (typeof method !== 'string' || !METHOD.test(method))
      throw new NoonTypeError('INVALID_ARGUMENT', 'method must be an upper-case HTTP method');
    checkPath(path);
    const query = encodeQuery(options.query);
    let body: string | undefined;
    if (options.body !== undefined) {
      try {
        body = JSON.stringify(options.body);
      } catch {
        body = undefined;
      }
      if (body === undefined) throw new NoonTypeError('INVALID_ARGUMENT', 'body must be JSON-serializable');
    }
    const endpoint = `${method} ${path}`;
    const sent = await this[kAuthed]({
      endpoint,
      method,
      path,
      query,
      body,
      repeatable: options.idempotent ?? (method === 'GET' || method === 'HEAD' || method === 'OPTIONS'),
      signal: options.signal,
    });
    const text = sent.body.toString('utf8');
    const ctx: ResponseContext = { endpoint, status: sent.status, requestId: sent.requestId };
    if (sent.status < 200 || sent.status >= 300)
      throw errorForResponse(endpoint, sent.status, text, sent.requestId, sent.retryAfter);
    return { status: sent.status, requestId: sent.requestId, data: parseOptionalJson(text, ctx) };
  }

  /** Sends a call with this session's cookies: one re-login and one resend on a session 401 (NC13). */
  async [kAuthed](spec: SendSpec): Promise<Sent> {
    const state = this.#current() ?? (await this.#ensure());
    const sent = await this.client[kSend](spec, state.cookieHeader);
    if (sent.status === 401) {
      const reason = errorReason(sent.body.toString('utf8'));
      if (reason === undefined || SESSION_REASONS.has(reason)) {
        this.client.log({
          level: 'warn',
          event: 'relogin',
          endpoint: spec.endpoint,
          why: 'session',
          status: 401,
          ...(reason !== undefined ? { reason } : {}),
          ...(sent.requestId !== undefined ? { requestId: sent.requestId } : {}),
        });
        const fresh = await this.#relogin(state.generation);
        const again = await this.client[kSend](spec, fresh.cookieHeader);
        this.#absorbCookies(fresh, again);
        return again;
      }
    }
    this.#absorbCookies(state, sent);
    return sent;
  }

  #current(): SessionState | undefined {
    const s = this.#state;
    return s && this.client.clock.now() < s.renewAt ? s : undefined;
  }

  #ensure(): Promise<SessionState> {
    const s = this.#current();
    if (s) return Promise.resolve(s);
    if (this.#pending) return this.#pending;
    if (this.#state) {
      this.client.log({
        level: 'info',
        event: 'relogin',
        endpoint: ENDPOINTS.login,
        why: 'renew',
        projectCode: this.projectCode,
      });
    }
    this.#pending = this.#login().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Drops the session that failed (unless a newer one replaced it already) and logs in, single flight. */
  #relogin(failedGeneration: number): Promise<SessionState> {
    if (this.#state?.generation === failedGeneration) this.#state = undefined;
    return this.#ensure();
  }

  async #login(): Promise<SessionState> {
    const client = this.client;
    const sent = await client[kSend]({
      endpoint: ENDPOINTS.login,
      method: 'POST',
      path: LOGIN_PATH,
      // A fresh JWT per attempt: Noon refuses a replayed jti and an iat older than a few minutes (NC10). A key
      // held in an HSM signs asynchronously there.
      body: () => {
        const body = (token: string) => JSON.stringify({ token, default_project_code: this.projectCode });
        const token = signLoginJwt(this.credentials, client.clock.now(), client.random.uuid);
        return typeof token === 'string' ? body(token) : token.then(body);
      },
      // Logging in twice is harmless: a lost answer is simply tried again.
      repeatable: true,
    });
    const ctx: ResponseContext = {
      endpoint: ENDPOINTS.login,
      status: sent.status,
      requestId: sent.requestId,
    };
    if (sent.status < 200 || sent.status >= 300)
      throw errorForResponse(
        ENDPOINTS.login,
        sent.status,
        sent.body.toString('utf8'),
        sent.requestId,
        sent.retryAfter,
      );
    const now = client.clock.now();
    const cookies = new Map<string, string>();
    let maxAgeS: number | undefined;
    for (const line of sent.setCookies()) {
      const c = parseSetCookie(line, now);
      if (!c || (c.maxAgeS !== undefined && c.maxAgeS <= 0)) continue;
      if (cookies.size >= MAX_COOKIES) break;
      cookies.set(c.name, c.value);
      if (c.name === SESSION_COOKIE && c.maxAgeS !== undefined) maxAgeS = c.maxAgeS;
    }
    if (!cookies.has(SESSION_COOKIE)) throw invalid(ctx, `Set-Cookie ${SESSION_COOKIE}`, 'is missing');
    const lifetime = Math.min(client.sessionLifetimeMs, maxAgeS !== undefined ? maxAgeS * 1000 : Infinity);
    const renewBefore = client.sessionRenewBeforeMs < lifetime ? client.sessionRenewBeforeMs : lifetime / 2;
    const state: SessionState = {
      cookies,
      cookieHeader: cookieHeader(cookies),
      renewAt: now + lifetime - renewBefore,
      generation: ++this.#generation,
    };
    this.#state = state;
    client.log({
      level: 'info',
      event: 'login',
      endpoint: ENDPOINTS.login,
      status: sent.status,
      projectCode: this.projectCode,
      ...(sent.requestId !== undefined ? { requestId: sent.requestId } : {}),
    });
    return state;
  }

  /** Noon may rotate a session cookie on any answer; keep what it sets (removals included). */
  #absorbCookies(state: SessionState, sent: Sent): void {
    const lines = sent.setCookies();
    if (lines.length === 0 || this.#state !== state) return;
    const now = this.client.clock.now();
    let changed = false;
    for (const line of lines) {
      const c = parseSetCookie(line, now);
      if (!c || !state.cookies.has(c.name)) continue;
      if (c.maxAgeS !== undefined && c.maxAgeS <= 0) state.cookies.delete(c.name);
      else state.cookies.set(c.name, c.value);
      changed = true;
    }
    if (changed) state.cookieHeader = cookieHeader(state.cookies);
    if (!state.cookies.has(SESSION_COOKIE)) this.#state = undefined;
  }
}

/** A generic API body: empty → undefined, otherwise JSON (its parser message is dropped: it quotes the body). */
function parseOptionalJson(text: string, ctx: ResponseContext): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid(ctx, undefined, 'body is not JSON');
  }
}

function whoamiFrom(
  status: number,
  text: string,
  requestId: string | undefined,
  retryAfter: number | undefined,
): Whoami {
  const ctx: ResponseContext = { endpoint: ENDPOINTS.whoami, status, requestId };
  if (status < 200 || status >= 300)
    throw errorForResponse(ENDPOINTS.whoami, status, text, requestId, retryAfter);
  const o = parseJsonObject(text, ctx);
  return {
    userCode: requireString(o, 'user_code', ctx),
    channelIdentifier: requireString(o, 'channel_identifier', ctx),
    keyId: requireString(o, 'key_id', ctx),
    projectCode: requireString(o, 'project_code', ctx),
    projects: requireStringArray(o, 'projects', ctx),
  };
}

/** Process step of whoami (NC12): checks every field by name. */
export async function processWhoamiResponse(response: Response): Promise<Whoami> {
  const text = await readResponseText(response, ENDPOINTS.whoami);
  const { requestId, retryAfter } = responseMeta(response);
  return whoamiFrom(response.status, text, requestId, retryAfter);
}
