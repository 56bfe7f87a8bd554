// The REST API's plumbing: its one error type with stable codes, JSON answers, body reading and the input
// checks every route shares (tenant, connection id, query parameters).

import { isTenant } from '../../connect/invariants.js';
import { lightResponse } from '../../http/light-response.js';

/** Stable codes of every error the REST API answers with; callers decide on these, never on message text. */
export type ApiErrorCode =
  /** 401: no bearer token, or not the configured one. */
  | 'UNAUTHORIZED'
  /** 400: a malformed body, query parameter, header or field. */
  | 'INVALID_REQUEST'
  /** 403: the tenant named in the request differs from the `X-Noon-Connect-Tenant` restriction. */
  | 'TENANT_MISMATCH'
  /** 403: a browser page of another origin sent the request (or, in dev mode, a name that is not loopback). */
  | 'FORBIDDEN'
  /** 404: no such route. */
  | 'NOT_FOUND'
  /** 405: the route exists, the method does not (see `Allow`). */
  | 'METHOD_NOT_ALLOWED'
  /** 413: the body is over the limit. */
  | 'PAYLOAD_TOO_LARGE'
  /** 415: a body that is not `application/json`. */
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** 400: a return path that is not relative or not allow-listed. */
  | 'RETURN_PATH_REFUSED'
  /** 400: a proxy path the API never forwards (identity, session and key management, the emulator's admin). */
  | 'PATH_REFUSED'
  /** 404: no such connection, or one of another tenant. */
  | 'CONNECTION_NOT_FOUND'
  /** 409: the connection is not active (disconnected, or needs a reconnect). */
  | 'CONNECTION_INACTIVE'
  /** 409: the seller's service account holds 5 keys already. */
  | 'KEY_LIMIT'
  /** 502: Noon (or the store) failed in a way the caller cannot fix. */
  | 'UNAVAILABLE'
  /** 502: Noon refused the seller's key at login (proxy); run a health check, the seller may need to reconnect. */
  | 'SELLER_LOGIN_FAILED'
  /** 504: Noon did not answer in time a call that changes nothing. */
  | 'UPSTREAM_TIMEOUT'
  /** 504: a call that may change something upstream was sent but its answer was lost; do not blindly repeat. */
  | 'OUTCOME_UNKNOWN'
  /** 403: managing tokens (and other deployment-wide calls) needs an all-tenants token. */
  | 'ALL_TENANTS_TOKEN_REQUIRED'
  /** 404: no API token with that prefix. */
  | 'TOKEN_NOT_FOUND'
  /** 429: too many wrong bearer tokens from this client address this minute (see `Retry-After`). */
  | 'TOO_MANY_WRONG_TOKENS'
  /** 500: a fault of the service itself. */
  | 'INTERNAL';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const JSON_HEADERS: Record<string, string> = {
  'content-type': 'application/json; charset=utf-8',
  // Answers carry tenant data: no cache on the way may keep them.
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/**
 * A JSON answer. It is a light Response (see src/http/light-response.ts): the node listener writes its status,
 * headers and text at once, and anything else that touches it gets a real Response.
 */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return lightResponse(JSON.stringify(body), status, { ...JSON_HEADERS, ...headers });
}

export function errorResponse(e: ApiError): Response {
  return jsonResponse(e.status, { error: { code: e.code, message: e.message } }, e.headers);
}

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The request's JSON body, or undefined when it has none. A body must be declared `application/json`: besides
 * being what the API speaks, a browser cannot send that type across sites without a preflight.
 */
export async function readJson(request: Request): Promise<unknown> {
  let text: string;
  try {
    text = await request.text();
  } catch (e) {
    // The node adapter stops reading past its own limit and errors the stream.
    if (e instanceof RangeError) throw tooLarge();
    throw new ApiError(400, 'INVALID_REQUEST', 'the request body could not be read');
  }
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw tooLarge();
  if (text.trim() === '') return undefined;
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json')
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', 'the request body is not valid JSON');
  }
}

function tooLarge(): ApiError {
  return new ApiError(413, 'PAYLOAD_TOO_LARGE', `the request body is over ${MAX_BODY_BYTES} bytes`);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A JSON object with only the named fields; a misspelt field is refused, never silently ignored. */
export function objectBody(body: unknown, allowed: readonly string[], what: string): Record<string, unknown> {
  if (!isPlainObject(body)) throw new ApiError(400, 'INVALID_REQUEST', `${what} must be a JSON object`);
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      `${what} has unknown field${unknown.length > 1 ? 's' : ''} ${unknown
        .map((k) => JSON.stringify(k.slice(0, 40)))
        .join(', ')}; allowed: ${allowed.join(', ')}`,
    );
  }
  return body;
}

/** A tenant by the connector's rule (1-128 characters of letters, digits and `._:@-`), or a 400. */
export function checkTenant(v: unknown, what: string): string {
  if (!isTenant(v))
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      `${what} must be 1-128 characters of letters, digits and ._:@-`,
    );
  return v;
}

/** Connection ids are UUIDs; anything else cannot name one. */
const CONNECTION_ID = /^[A-Za-z0-9-]{1,64}$/;

export function checkConnectionId(raw: string): string {
  if (!CONNECTION_ID.test(raw))
    throw new ApiError(400, 'INVALID_REQUEST', 'the connection id must be 1-64 letters, digits or dashes');
  return raw;
}

/**
 * The query parameters, each at most once and each one the route knows. An unknown parameter is refused: a
 * misspelt `?tenat=` must not quietly widen a listing to every tenant.
 */
export function queryParams(url: URL, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of url.searchParams) {
    if (!allowed.includes(k)) {
      throw new ApiError(
        400,
        'INVALID_REQUEST',
        allowed.length === 0
          ? 'this route takes no query parameters'
          : `unknown query parameter ${JSON.stringify(k.slice(0, 40))}; allowed: ${allowed.join(', ')}`,
      );
    }
    if (out.has(k)) throw new ApiError(400, 'INVALID_REQUEST', `query parameter ${k} is repeated`);
    out.set(k, v);
  }
  return out;
}
