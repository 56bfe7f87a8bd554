// The request checks the REST API, /metrics and the dashboard share: the constant-time comparison of a presented
// secret (bearer token, admin token), the bearer token of an `Authorization` header, the host a request was
// addressed to, and the client address a request came from.

import { createHash, timingSafeEqual } from 'node:crypto';

/** The `WWW-Authenticate` challenge of every bearer-protected answer. */
export const BEARER_CHALLENGE = 'Bearer realm="noon-connect"';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * A check of presented values against one configured secret. Both sides are hashed first and compared in
 * constant time, so neither the timing nor the lengths say anything about the secret. Without a secret, nothing
 * matches.
 */
export function secretMatcher(secret: string | undefined): (presented: string) => boolean {
  if (secret === undefined) return () => false;
  const expected = digest(secret);
  return (presented) => timingSafeEqual(digest(presented), expected);
}

/**
 * The token of an `Authorization: Bearer <token>` header; undefined when the header is absent or not of that
 * form (the scheme's case does not matter).
 */
export function bearerToken(request: Request): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(request.headers.get('authorization') ?? '');
  return m ? m[1] : undefined;
}

/**
 * The host name a request was addressed to, from its `Host` header without the port (`[::1]:8787` → `[::1]`,
 * `127.0.0.1:8787` → `127.0.0.1`); undefined when the request has no `Host` header.
 */
export function hostName(request: Request): string | undefined {
  const host = request.headers.get('host');
  if (host === null) return undefined;
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
}

/** An address as a limit key: IPv4-mapped IPv6 as plain IPv4, brackets and ports gone; anything odd is `unknown`. */
function addressKey(raw: string | undefined): string {
  let a = (raw ?? '').trim();
  if (a.startsWith('[')) a = a.slice(1, a.indexOf(']') > 0 ? a.indexOf(']') : undefined);
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  if (a.toLowerCase().startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
  return /^[0-9A-Fa-f:.]{2,45}$/.test(a) ? a.toLowerCase() : 'unknown';
}

/**
 * The client's address: the socket's, or, behind `trustedProxies` proxies, the `X-Forwarded-For` entry that
 * the farthest trusted proxy appended (counted from the right, the socket's peer being the nearest proxy).
 * Entries further left were written by the client itself and are never believed.
 */
export function clientAddress(
  socketAddress: string | undefined,
  forwardedFor: string | null,
  trustedProxies: number,
): string {
  if (trustedProxies <= 0) return addressKey(socketAddress);
  const hops = (forwardedFor ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const chain = [...hops, socketAddress ?? ''];
  return addressKey(chain[Math.max(0, chain.length - 1 - trustedProxies)]);
}
