// The connect link's `state` and its binding to the browser. A state is 128 random bits plus two MACs under a
// server key: one proves we issued it for this environment (so forged or foreign states are refused without
// touching the store), one binds it to a random value kept in the browser's HttpOnly cookie (so a state used
// from another browser is refused). The store keeps only the state's hash.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ConnectError } from './errors.js';

const RANDOM_BYTES = 16;
const MAC_BYTES = 16;
const B64 = /^[A-Za-z0-9_-]+$/;
/** 16 random + 16 + 16 MAC bytes in base64url: 3 × 22 characters and two dots. */
export const STATE_LENGTH = 22 * 3 + 2;

/** Hex SHA-256 of a text: what the store keeps of a state. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function mac(key: Buffer, ...parts: string[]): string {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(`${p.length}:${p}|`);
  return h.digest().subarray(0, MAC_BYTES).toString('base64url');
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface StateParts {
  state: string;
  stateHash: string;
}

/** Issues a state for an environment and a browser binding value. */
export function issueState(
  key: Buffer,
  environment: string,
  binding: string,
  random: (n: number) => Buffer,
): StateParts {
  const r = random(RANDOM_BYTES).toString('base64url');
  const state = `${r}.${mac(key, 'issued', environment, r)}.${mac(key, 'bound', environment, r, binding)}`;
  return { state, stateHash: sha256Hex(state) };
}

export type StateCheck = 'ok' | 'malformed' | 'not-issued' | 'no-binding' | 'binding-mismatch';

/** Checks a state from the callback against this environment and the browser's binding, with no store access. */
export function checkState(
  key: Buffer,
  environment: string,
  state: string,
  binding: string | undefined,
): StateCheck {
  if (state.length !== STATE_LENGTH) return 'malformed';
  const parts = state.split('.');
  if (parts.length !== 3 || !parts.every((p) => p.length === 22 && B64.test(p))) return 'malformed';
  const [r, issued, bound] = parts as [string, string, string];
  if (!equal(issued, mac(key, 'issued', environment, r))) return 'not-issued';
  if (binding === undefined) return 'no-binding';
  if (!equal(bound, mac(key, 'bound', environment, r, binding))) return 'binding-mismatch';
  return 'ok';
}

/** A fresh browser binding value (128 bits). */
export function newBinding(random: (n: number) => Buffer): string {
  return random(16).toString('base64url');
}

function isBindingValue(v: string | undefined): v is string {
  return v !== undefined && v.length === 22 && B64.test(v);
}

export interface CookiePolicy {
  /** `__Host-` prefix and `Secure` when the public URL is https. */
  secure: boolean;
  maxAgeS: number;
}

function bindingCookieName(secure: boolean): string {
  return secure ? '__Host-nc_bind' : 'nc_bind';
}

export function bindingSetCookie(value: string, p: CookiePolicy): string {
  // SameSite=Lax: the cookie must come back on the top-level redirect from Noon's consent page (Strict would
  // drop it, C8); HttpOnly keeps it from scripts; __Host- pins it to this host and path /.
  return `${bindingCookieName(p.secure)}=${value}; Path=/; Max-Age=${p.maxAgeS}; HttpOnly; SameSite=Lax${p.secure ? '; Secure' : ''}`;
}

/** Reads the binding cookie from a Cookie header; a repeated or malformed cookie counts as missing. */
export function readBindingCookie(
  cookieHeader: string | null | undefined,
  secure: boolean,
): string | undefined {
  if (!cookieHeader || cookieHeader.length > 8192) return undefined;
  const name = bindingCookieName(secure);
  let found: string | undefined;
  let count = 0;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    count++;
    found = part.slice(eq + 1).trim();
  }
  return count === 1 && isBindingValue(found) ? found : undefined;
}

/**
 * Return paths are relative and allow-listed (C7): `//host`, `/\host`, schemes, control characters and encoded
 * slashes or backslashes are refused, so no return path can send the browser to another origin.
 */
export function checkReturnPath(value: string, allowed: readonly string[]): string {
  const refuse = (why: string): never => {
    throw new ConnectError('RETURN_PATH_REFUSED', `return path refused: ${why}`);
  };
  if (typeof value !== 'string' || value === '') refuse('empty');
  if (value.length > 1024) refuse('too long');
  if (!value.startsWith('/')) refuse('must start with /');
  if (value.startsWith('//') || value.startsWith('/\\')) refuse('must not name a host');
  if (/[\\\u0000-\u001f\u007f\s]/.test(value)) refuse('control characters, spaces or backslashes');
  if (/%(2f|5c|09|0a|0d|00|25)/i.test(value))
    refuse('encoded slash, backslash, control character or percent');
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return refuse('bad percent-encoding');
  }
  if (decoded.startsWith('//') || /^\/[\\/]/.test(decoded) || /[\u0000-\u001f\\]/.test(decoded))
    refuse('must not name a host');
  const u = new URL(value, 'http://return.invalid');
  if (u.origin !== 'http://return.invalid') refuse('must stay on this site');
  const path = u.pathname;
  // Dot segments collapse after the checks above: `/.//evil.com` and `/a/..//evil.com` normalize to
  // `//evil.com`, which a browser reads as another host.
  if (path.startsWith('//')) refuse('must not name a host');
  if (
    !allowed.some(
      (prefix) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`),
    )
  ) {
    refuse('not allow-listed');
  }
  return `${u.pathname}${u.search}`;
}
