// The request checks the REST API, /metrics and the dashboard share: the constant-time comparison of a presented
// secret (bearer token, admin token), the bearer token of an `Authorization` header, the host a request was
// addressed to, and the client address a request came from.

import { hash, timingSafeEqual } from 'node:crypto';

/** The `WWW-Authenticate` challenge of every bearer-protected answer. */
export const BEARER_CHALLENGE = 'Bearer realm="noon-connect"';

function digest(s: string): Buffer {
  return hash('sha256', s, 'buffer');
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
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(a)) return 'unknown';
  return a.includes(':') ? ipv6Prefix64(a.toLowerCase()) : a;
}

/**
 * An IPv6 address as its /64 network (`2001:db8:1:2::/64`): one subscriber is usually given a whole /64, so
 * counting single addresses would let one client spread its tries over 2^64 of them.
 */
function ipv6Prefix64(a: string): string {
  const [head = '', tail] = a.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  if (t.some((g) => g.includes('.')) || h.some((g) => g.includes('.'))) return a;
  const full =
    tail === undefined
      ? h
      : [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  if (full.length !== 8) return 'unknown';
  return `${full
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
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
