// The login JWT (NC6): RS256 over the service account's key, signed with node:crypto directly (RSA-SHA256,
// PKCS#1 v1.5) using the KeyObject imported once, which is several times faster than importing per login; or,
// for a key held elsewhere (an HSM), by the credentials' signer.

import { sign } from 'node:crypto';
import type { NoonCredentials } from './credentials.js';

/** Lifetime given to `exp`: Noon's documented sample sends none; a short one limits a leaked token (NC6). */
export const LOGIN_JWT_TTL_S = 300;

/** The claims of the login JWT a service-account key signs (NC6). */
export interface LoginClaims {
  sub: string;
  iat: number;
  exp: number;
  jti: string;
}

/** The claims of a login JWT: `sub` = key id, `iat` = now in whole seconds, a fresh `jti`, `exp` = iat + 300. */
export function loginClaims(keyId: string, nowMs: number, jti: string): LoginClaims {
  const iat = Math.floor(nowMs / 1000);
  return { sub: keyId, iat, exp: iat + LOGIN_JWT_TTL_S, jti };
}

/** The JWS signing input of a login JWT: header (`kid` = key id) and claims, each base64url. */
function loginJwtInput(credentials: NoonCredentials, nowMs: number, uuid: () => string): string {
  const header = { alg: 'RS256', typ: 'JWT', kid: credentials.keyId };
  const claims = loginClaims(credentials.keyId, nowMs, uuid());
  return `${b64url(header)}.${b64url(claims)}`;
}

/**
 * A signed login JWT with header `kid` = key id, for credentials holding their key in process. `uuid` must
 * return a fresh UUID v4 per call. Signer-backed credentials need {@link signLoginJwt}.
 */
export function createLoginJwt(credentials: NoonCredentials, nowMs: number, uuid: () => string): string {
  const input = loginJwtInput(credentials, nowMs, uuid);
  const signature = sign('sha256', Buffer.from(input), credentials.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

/**
 * A signed login JWT for any credentials: made at once when the key is in process, through the signer (a
 * promise) when it is held elsewhere. A fresh `jti` per call.
 */
export function signLoginJwt(
  credentials: NoonCredentials,
  nowMs: number,
  uuid: () => string,
): string | Promise<string> {
  const input = loginJwtInput(credentials, nowMs, uuid);
  const signature = credentials.signRs256(Buffer.from(input));
  const jwt = (sig: Buffer) => `${input}.${sig.toString('base64url')}`;
  return Buffer.isBuffer(signature) ? jwt(signature) : signature.then(jwt);
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
