// Response checks shared by every process step: bounded body reading, JSON parsing that never echoes the body,
// field assertions by name (extra fields are ignored), Noon's error shape (NC37) and Retry-After.

import { codeForStatus, NoonError } from './errors.js';
import { BodyTooLarge, readStreamLimited } from './transport.js';

/** Default largest response body read: 1 MB. Nothing Noon documents comes near it. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Where a response came from, for error details. */
export interface ResponseContext {
  endpoint: string;
  status: number;
  requestId?: string | undefined;
}

export function invalid(ctx: ResponseContext, field: string | undefined, problem: string): NoonError {
  return new NoonError(
    'RESPONSE_INVALID',
    `${ctx.endpoint} response invalid: ${field ? `${field} ${problem}` : problem}`,
    { status: ctx.status, requestId: ctx.requestId, endpoint: ctx.endpoint, field },
  );
}

export function tooLarge(endpoint: string, limit: number, status?: number, requestId?: string): NoonError {
  return new NoonError('RESPONSE_TOO_LARGE', `${endpoint} response body exceeds ${limit} bytes`, {
    endpoint,
    status,
    requestId,
  });
}

/** Reads a Web `Response` body as UTF-8, stopping (and cancelling the stream) once it passes `limit` bytes. */
export async function readResponseText(
  response: Response,
  endpoint: string,
  limit = DEFAULT_MAX_BODY_BYTES,
): Promise<string> {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  if (response.bodyUsed) throw new NoonError('RESPONSE_INVALID', `${endpoint} response body already read`);
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(endpoint, limit, response.status, requestId);
  }
  try {
    return (await readStreamLimited(response, limit)).toString('utf8');
  } catch (e) {
    if (e instanceof BodyTooLarge) throw tooLarge(endpoint, limit, response.status, requestId);
    throw e;
  }
}

/**
 * Parses a JSON object body. The parser's own message is dropped on purpose: V8 quotes the text it failed on,
 * and a body may hold an access token or a private key.
 */
export function parseJsonObject(text: string, ctx: ResponseContext): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid(ctx, undefined, text.trim() === '' ? 'body is empty' : 'body is not JSON');
  }
  if (!isRecord(value)) {
    throw invalid(
      ctx,
      undefined,
      `body is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not an object`,
    );
  }
  return value;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function requireString(
  obj: Record<string, unknown>,
  name: string,
  ctx: ResponseContext,
  path = name,
): string {
  const v = obj[name];
  if (typeof v !== 'string') throw invalid(ctx, path, v === undefined ? 'is missing' : 'is not a string');
  if (v === '') throw invalid(ctx, path, 'is empty');
  return v;
}

export function optionalString(
  obj: Record<string, unknown>,
  name: string,
  ctx: ResponseContext,
  path = name,
): string | undefined {
  const v = obj[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(ctx, path, 'is not a string');
  return v;
}

export function requireStringArray(
  obj: Record<string, unknown>,
  name: string,
  ctx: ResponseContext,
  path = name,
): string[] {
  const v = obj[name];
  if (!Array.isArray(v)) throw invalid(ctx, path, v === undefined ? 'is missing' : 'is not an array');
  if (!v.every((s) => typeof s === 'string')) throw invalid(ctx, path, 'has a non-string item');
  return v as string[];
}

export function requireObject(
  obj: Record<string, unknown>,
  name: string,
  ctx: ResponseContext,
  path = name,
): Record<string, unknown> {
  const v = obj[name];
  if (!isRecord(v)) throw invalid(ctx, path, v === undefined ? 'is missing' : 'is not an object');
  return v;
}

export function requireBoolean(
  obj: Record<string, unknown>,
  name: string,
  ctx: ResponseContext,
  path = name,
): boolean {
  const v = obj[name];
  if (typeof v !== 'boolean') throw invalid(ctx, path, v === undefined ? 'is missing' : 'is not a boolean');
  return v;
}

/**
 * `expires_in` is a protobuf duration string such as `"3600s"` (NC24); a plain number of seconds is accepted
 * too. Returns whole seconds.
 */
export function parseDurationSeconds(v: unknown, ctx: ResponseContext, path: string): number {
  if (typeof v === 'number') {
    if (Number.isFinite(v) && v >= 0) return Math.floor(v);
    throw invalid(ctx, path, 'is not a non-negative number');
  }
  if (typeof v === 'string') {
    const m = /^(\d{1,12})(?:\.\d{1,9})?s$/.exec(v);
    if (m) return Number(m[1]);
    throw invalid(ctx, path, 'is not a duration like "3600s"');
  }
  throw invalid(ctx, path, v === undefined ? 'is missing' : 'is neither a duration string nor a number');
}

/** What an error body says, in Noon's gRPC-gateway shape (NC37); anything else yields nothing. */
export function errorReason(text: string): string | undefined {
  const t = text.trimStart();
  if (!t.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || !Array.isArray(value.details)) return undefined;
  let fallback: string | undefined;
  for (const d of value.details) {
    if (!isRecord(d) || typeof d.reason !== 'string' || d.reason === '') continue;
    // google.rpc.ErrorInfo is the detail that carries the reason; prefer it when several details are present.
    if (typeof d['@type'] === 'string' && d['@type'].endsWith('google.rpc.ErrorInfo')) return d.reason;
    fallback ??= d.reason;
  }
  return fallback;
}

/** Seconds from `Retry-After` (delta-seconds or an HTTP date) or Noon's `X-Ratelimit-Retry-After` (NC38). */
export function retryAfterSeconds(
  get: (name: string) => string | undefined | null,
  nowMs: number,
): number | undefined {
  for (const name of ['retry-after', 'x-ratelimit-retry-after']) {
    const raw = get(name)?.trim();
    if (!raw) continue;
    if (/^\d{1,9}$/.test(raw)) return Number(raw);
    const at = Date.parse(raw);
    if (Number.isFinite(at)) return Math.max(0, Math.ceil((at - nowMs) / 1000));
  }
  return undefined;
}

/** `X-Request-Id` and Retry-After of a Web Response (an HTTP-date is measured against the local clock). */
export function responseMeta(response: Response): {
  requestId: string | undefined;
  retryAfter: number | undefined;
} {
  return {
    requestId: response.headers.get('x-request-id') ?? undefined,
    retryAfter: retryAfterSeconds((name) => response.headers.get(name), Date.now()),
  };
}

/** The typed error for a final HTTP error response. */
export function errorForResponse(
  endpoint: string,
  status: number,
  text: string,
  requestId: string | undefined,
  retryAfter: number | undefined,
): NoonError {
  const reason = status >= 400 ? errorReason(text) : undefined;
  const code = codeForStatus(status, reason);
  const what =
    code === 'REDIRECT'
      ? `answered ${status}; redirects from Noon endpoints are not followed`
      : `failed with HTTP ${status}${reason ? ` ${reason}` : ''}`;
  return new NoonError(code, `${endpoint} ${what}`, { status, reason, requestId, retryAfter, endpoint });
}
