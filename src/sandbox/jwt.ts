// Compact JWS handling for the sandbox: verifying login JWTs (NC6, NC10: RS256 only) and signing the RS256
// access tokens token/create returns (NC23). Written on node:crypto so the sandbox shares no code with clients.

import { type KeyObject, sign, verify } from 'node:crypto';

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/** Base64url parts joined by dots (the count of dots is checked apart). */
const B64URL = /^[A-Za-z0-9_.-]*$/;

/**
 * The last token decoded and what it decoded to: a login's token is decoded when the request's subject is read and
 * again by the endpoint, and the result is only ever read.
 */
let lastToken: string | undefined;
let lastDecoded: DecodedJwt | undefined;

/** Splits and decodes a compact JWS; undefined when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  if (token === lastToken) return lastDecoded;
  const decoded = decode(token);
  lastToken = token;
  lastDecoded = decoded;
  return decoded;
}

function decode(token: string): DecodedJwt | undefined {
  if (token.length > 16_384) return undefined;
  const dot1 = token.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return undefined;
  if (!B64URL.test(token)) return undefined;
  const h = token.slice(0, dot1);
  const p = token.slice(dot1 + 1, dot2);
  try {
    const header: unknown = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    const payload: unknown = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    if (!isObject(header) || !isObject(payload)) return undefined;
    return {
      header,
      payload,
      signingInput: token.slice(0, dot2),
      signature: Buffer.from(token.slice(dot2 + 1), 'base64url'),
    };
  } catch {
    return undefined;
  }
}

export function verifyRs256(jwt: DecodedJwt, key: KeyObject): boolean {
  if (jwt.header.alg !== 'RS256') return false;
  try {
    return verify('sha256', Buffer.from(jwt.signingInput), key, jwt.signature);
  } catch {
    return false;
  }
}

export function signRs256(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: KeyObject,
): string {
  const input = `${b64json({ ...header, alg: 'RS256', typ: 'JWT' })}.${b64json(payload)}`;
  const sig = sign('sha256', Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

function b64json(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
