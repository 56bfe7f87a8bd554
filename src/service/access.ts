// The request checks the REST API, /metrics and the dashboard share: the constant-time comparison of a presented
// secret (bearer token, admin token), the bearer token of an `Authorization` header, and the host a request
// was addressed to.

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
