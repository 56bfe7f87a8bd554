// The seller proxy: one Noon API call made as a connected seller, so the integrator's other services never hold
// a seller key or session. The request is checked field by field; identity paths (login, whoami, the OAuth token
// calls, the API User Service that manages keys) and the emulator's admin API are never forwarded.

import { NoonError, type NoonSession, NoonTypeError, type QueryValue } from '../../client/index.js';
import { ApiError, isPlainObject, objectBody } from './http.js';

export const PROXY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type ProxyMethod = (typeof PROXY_METHODS)[number];

/**
 * First path segments the proxy refuses. `identity` holds the session login, whoami, the OAuth token calls and
 * the API User Service: through them a caller could mint or remove the seller's keys or obtain a session, which
 * is exactly what the proxy exists to keep away from other services. `_sandbox` is the local emulator's admin
 * API (faults, clock, fixtures), which no seller call has any business reaching.
 */
export const REFUSED_SEGMENTS: readonly string[] = ['identity', '_sandbox'];

export interface ProxyRequest {
  method: ProxyMethod;
  path: string;
  query?: Record<string, QueryValue>;
  /** Present only when the caller sent one (JSON `null` included). */
  body?: { value: unknown };
}

const MAX_QUERY_KEYS = 100;
const MAX_QUERY_VALUES = 100;

function bad(message: string): ApiError {
  return new ApiError(400, 'INVALID_REQUEST', message);
}

/** A path on Noon's gateway: a single leading `/`, no query, nothing that could decode into another route. */
export function checkProxyPath(raw: unknown): string {
  if (typeof raw !== 'string' || raw === '') throw bad('path must be a non-empty string');
  if (raw.length > 2048) throw bad('path must be at most 2048 characters');
  if (!raw.startsWith('/') || raw.startsWith('//')) throw bad('path must start with a single /');
  if (/[\s?#\\\u0000-\u001f\u007f]/.test(raw))
    throw bad('path must have no spaces, control characters, ?, # or \\ (put query parameters in "query")');
  // An encoded slash, backslash, dot or percent could turn into a different route after the check below, at a
  // proxy or at the gateway; no Noon path needs one.
  if (/%(2f|5c|2e|25)/i.test(raw)) throw bad('path must not percent-encode /, \\, . or %');
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw bad('path has a bad percent-encoding');
  }
  const segments = decoded.split('/').slice(1);
  // URL parsing folds `/catalog/../identity` into `/identity`: refuse dot segments rather than reason about it.
  if (segments.some((s) => s === '.' || s === '..')) throw bad('path must not contain . or .. segments');
  const first = (segments[0] ?? '').split(';')[0]!.toLowerCase();
  if (REFUSED_SEGMENTS.includes(first)) {
    throw new ApiError(
      400,
      'PATH_REFUSED',
      `the proxy does not forward /${first} paths (no session, token or key management through the proxy)`,
    );
  }
  // An allow-list of segment characters: no `;` path parameters (some servers read `..;` as `..`), no
  // look-alike dots or other non-ASCII, no NUL; a segment may not start with a dot.
  if (raw.includes(';') || segments.some((s) => !/^(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*)?$/.test(s))) {
    throw bad('path segments may hold only letters, digits and . _ ~ - (not starting with a dot)');
  }
  return raw;
}

function checkQuery(raw: unknown): Record<string, QueryValue> {
  if (!isPlainObject(raw)) throw bad('query must be an object of names to values');
  const keys = Object.keys(raw);
  if (keys.length > MAX_QUERY_KEYS) throw bad(`query may have at most ${MAX_QUERY_KEYS} names`);
  const scalar = (v: unknown) =>
    typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  const out: Record<string, QueryValue> = {};
  for (const k of keys) {
    if (k === '' || k.length > 256) throw bad('query names must be 1-256 characters');
    const v = raw[k];
    if (scalar(v)) out[k] = v as string | number | boolean;
    else if (Array.isArray(v) && v.length <= MAX_QUERY_VALUES && v.every(scalar))
      out[k] = v as (string | number | boolean)[];
    else
      throw bad(
        `query.${k.slice(0, 40)} must be a string, number or boolean, or a list of at most ${MAX_QUERY_VALUES} of them`,
      );
  }
  return out;
}

/** Parses and checks the proxy's request body. */
export function parseProxyRequest(body: unknown): ProxyRequest {
  const o = objectBody(body, ['method', 'path', 'query', 'body'], 'the proxy request');
  const method = o.method;
  if (typeof method !== 'string' || !(PROXY_METHODS as readonly string[]).includes(method))
    throw bad(`method must be one of ${PROXY_METHODS.join(', ')}`);
  const path = checkProxyPath(o.path);
  const out: ProxyRequest = { method: method as ProxyMethod, path };
  if (o.query !== undefined) out.query = checkQuery(o.query);
  if ('body' in o) {
    if (method === 'GET') throw bad('a GET request has no body');
    out.body = { value: o.body };
  }
  return out;
}

/** The proxy's answer when Noon answered with an HTTP status (any status: Noon's errors are the caller's data). */
export interface ProxyResult {
  status: number;
  headers: { 'content-type': string | null; 'x-request-id': string | null };
  body: unknown;
  /** Present when Noon answered with an error status: its stable code and `details[].reason`. */
  error?: { code: string; reason: string | null };
}

/**
 * Sends the call with the seller's session and shapes the answer. Noon's error statuses come back inside a 200
 * (the proxy worked; Noon said no); failures to get any answer become the API's own 502/504 errors.
 */
export async function sendProxied(session: NoonSession, r: ProxyRequest): Promise<ProxyResult> {
  try {
    const res = await session.request(r.method, r.path, {
      ...(r.query ? { query: r.query } : {}),
      ...(r.body ? { body: r.body.value } : {}),
    });
    return {
      status: res.status,
      headers: {
        'content-type': res.data === undefined ? null : 'application/json',
        'x-request-id': res.requestId ?? null,
      },
      body: res.data ?? null,
    };
  } catch (e) {
    if (e instanceof NoonError && e.endpoint !== 'login' && e.status !== undefined && e.status >= 400) {
      return {
        status: e.status,
        headers: { 'content-type': null, 'x-request-id': e.requestId ?? null },
        body: null,
        error: { code: e.code, reason: e.reason ?? null },
      };
    }
    throw upstreamError(e, r);
  }
}

function upstreamError(e: unknown, r: ProxyRequest): unknown {
  if (e instanceof NoonTypeError) return bad(e.message);
  if (!(e instanceof NoonError)) return e;
  const rid = e.requestId ? ` (request id ${e.requestId})` : '';
  // The seller's own login failed: the key was removed or deactivated upstream, or Noon refused it.
  if (e.endpoint === 'login')
    return new ApiError(
      502,
      'SELLER_LOGIN_FAILED',
      `Noon refused the seller's login (${e.code})${rid}; run a health check, the seller may need to reconnect`,
    );
  if (e.code === 'TIMEOUT')
    return new ApiError(504, 'UPSTREAM_TIMEOUT', `Noon did not answer ${r.method} ${r.path} in time`);
  if (e.code === 'OUTCOME_UNKNOWN')
    return new ApiError(
      504,
      'OUTCOME_UNKNOWN',
      `${r.method} ${r.path} was sent but its answer was lost; it may have taken effect upstream`,
    );
  return new ApiError(502, 'UNAVAILABLE', `Noon call failed (${e.code})${rid}`);
}
