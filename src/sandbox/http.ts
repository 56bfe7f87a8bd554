// The sandbox's small request/response model: endpoint handlers are plain functions over these, and server.ts
// adapts them to node:http (so faults can wrap any endpoint the same way).

import type { IncomingHttpHeaders } from 'node:http';
import { InvalidArgument, MalformedJson, UnsupportedMediaType } from './errors.js';

export interface SandboxRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly cookies: ReadonlyMap<string, string>;
  readonly requestId: string;
  /** Whether the client reached us over TLS (decides the cookies' Secure flag). */
  readonly secure: boolean;
  /** The body parsed as JSON, kept by {@link jsonBody} so a request's body is parsed once (null: not JSON). */
  parsedBody?: { value: unknown } | null | undefined;
}

export interface SandboxResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: string | Buffer;
  /** Runs once the whole response was handed to the socket without error. */
  onDelivered?: () => void;
  /** Set by handlers so the journal can name the project without reading secrets. */
  project?: string;
  reason?: string;
}

export function json(
  status: number,
  value: unknown,
  headers: Record<string, string | string[]> = {},
): SandboxResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

export function html(
  status: number,
  page: string,
  headers: Record<string, string | string[]> = {},
): SandboxResponse {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8', ...headers }, body: page };
}

export function redirect(location: string, headers: Record<string, string | string[]> = {}): SandboxResponse {
  return { status: 303, headers: { location, ...headers }, body: '' };
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name && !out.has(name)) out.set(name, value);
  }
  return out;
}

export interface CookieOptions {
  maxAge?: number;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: 'Lax' | 'Strict' | 'None';
  path?: string;
}

export function serializeCookie(name: string, value: string, o: CookieOptions = {}): string {
  let s = `${name}=${value}; Path=${o.path ?? '/'}`;
  if (o.maxAge !== undefined) s += `; Max-Age=${o.maxAge}`;
  if (o.httpOnly) s += '; HttpOnly';
  if (o.secure) s += '; Secure';
  if (o.sameSite) s += `; SameSite=${o.sameSite}`;
  return s;
}

const JSON_CONTENT_TYPE = /^application\/json\s*(;|$)/i;

/** The body parsed as JSON (null when it is not JSON), parsed on first use and kept on the request. */
export function jsonBody(req: SandboxRequest): { value: unknown } | null {
  let parsed = req.parsedBody;
  if (parsed === undefined) {
    try {
      parsed = { value: JSON.parse(req.body.toString('utf8')) as unknown };
    } catch {
      parsed = null;
    }
    req.parsedBody = parsed;
  }
  return parsed;
}

/**
 * Parses a JSON object body. Noon accepts JSON without `Content-Type: application/json` (NC8: one of its own
 * samples omits it), so the header is only enforced when the strict switch is on.
 */
export function readJsonObject(req: SandboxRequest, requireContentType: boolean): Record<string, unknown> {
  if (requireContentType) {
    const ct = String(req.headers['content-type'] ?? '');
    if (!JSON_CONTENT_TYPE.test(ct)) throw new UnsupportedMediaType();
  }
  const parsed = jsonBody(req);
  if (!parsed) throw new MalformedJson();
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgument('body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** A string field: absent → undefined; present with another type → 400 naming the field. */
export function optionalString(
  body: Record<string, unknown>,
  field: string,
  maxLength = 16_384,
): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new InvalidArgument(`${field} must be a string`);
  if (v.length > maxLength) throw new InvalidArgument(`${field} is too long`);
  return v;
}

export function requiredString(body: Record<string, unknown>, field: string, maxLength?: number): string {
  const v = optionalString(body, field, maxLength);
  if (v === undefined || v === '') throw new InvalidArgument(`${field} is required`);
  return v;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}
