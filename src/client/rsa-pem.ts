// A fast path for the one key shape Noon hands out: an unencrypted RSA private key in PEM, PKCS#1
// (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`). OpenSSL 3 decodes such PEM through its generic
// decoder chain (~0.4 ms for RSA-2048); reading the nine integers of RSAPrivateKey (RFC 8017 A.1.2) here and
// importing them as a JWK costs ~0.01 ms and gives the same key. Anything this reader does not recognise exactly
// (encrypted PEM, other algorithms, multi-prime keys, extra bytes, non-minimal DER) returns undefined, and the
// caller imports the text the usual way, so an odd key is judged by OpenSSL as before. No error here ever quotes
// the key's bytes: there are no errors, only "not this shape".

import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';

const PEM =
  /^-----BEGIN (RSA PRIVATE KEY|PRIVATE KEY)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n-----END \1-----\s*$/;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** OID 1.2.840.113549.1.1.1 (rsaEncryption), as DER content bytes. */
const RSA_ENCRYPTION = Buffer.from('2a864886f70d010101', 'hex');

interface Tlv {
  tag: number;
  /** Offset of the content's first byte. */
  start: number;
  /** Offset just past the content. */
  end: number;
}

/** One DER element at `at`, within `limit`; undefined if it is not well-formed, minimal, definite-length DER. */
function tlv(der: Buffer, at: number, limit: number): Tlv | undefined {
  if (at + 2 > limit) return undefined;
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // Keys this size need at most two length bytes; minimal DER has no leading zero byte and no long form
    // for lengths under 128.
    if (n === 0 || n > 2 || start + n > limit || der[start] === 0) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    if (len < 0x80) return undefined;
    start += n;
  }
  const end = start + len;
  if (end > limit) return undefined;
  return { tag, start, end };
}

/** A positive DER INTEGER's magnitude as base64url (no leading zero), or undefined. */
function positiveInteger(der: Buffer, t: Tlv): string | undefined {
  if (t.tag !== 0x02 || t.end === t.start) return undefined;
  let s = t.start;
  if (der[s]! & 0x80) return undefined; // negative
  if (der[s] === 0 && t.end - s > 1) {
    if (!(der[s + 1]! & 0x80)) return undefined; // non-minimal
    s++;
  }
  return der.subarray(s, t.end).toString('base64url');
}

const FIELDS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;

/** RSAPrivateKey ::= SEQUENCE { version 0, n, e, d, p, q, dp, dq, qi }, exactly filling [at, limit). */
function rsaPrivateKey(der: Buffer, at: number, limit: number): JsonWebKey | undefined {
  const seq = tlv(der, at, limit);
  if (seq?.tag !== 0x30 || seq.end !== limit) return undefined;
  const version = tlv(der, seq.start, seq.end);
  if (version?.tag !== 0x02 || version.end - version.start !== 1 || der[version.start] !== 0)
    return undefined;
  const jwk: JsonWebKey = { kty: 'RSA' };
  let p = version.end;
  for (const name of FIELDS) {
    const t = tlv(der, p, seq.end);
    const v = t && positiveInteger(der, t);
    if (!t || v === undefined) return undefined;
    jwk[name] = v;
    p = t.end;
  }
  return p === seq.end ? jwk : undefined;
}

/** PrivateKeyInfo (RFC 5208) holding an rsaEncryption key with NULL parameters and no attributes. */
function privateKeyInfo(der: Buffer): JsonWebKey | undefined {
  const seq = tlv(der, 0, der.length);
  if (seq?.tag !== 0x30 || seq.end !== der.length) return undefined;
  const version = tlv(der, seq.start, seq.end);
  if (version?.tag !== 0x02 || version.end - version.start !== 1 || der[version.start] !== 0)
    return undefined;
  const alg = tlv(der, version.end, seq.end);
  if (alg?.tag !== 0x30) return undefined;
  const oid = tlv(der, alg.start, alg.end);
  if (oid?.tag !== 0x06 || !der.subarray(oid.start, oid.end).equals(RSA_ENCRYPTION)) return undefined;
  const params = tlv(der, oid.end, alg.end);
  if (params?.tag !== 0x05 || params.start !== params.end || params.end !== alg.end) return undefined;
  const octets = tlv(der, alg.end, seq.end);
  if (octets?.tag !== 0x04 || octets.end !== seq.end) return undefined;
  return rsaPrivateKey(der, octets.start, octets.end);
}

/** The key as a KeyObject through the JWK import, or undefined when the text is not exactly this shape. */
export function importRsaPemFast(pem: string): KeyObject | undefined {
  const m = PEM.exec(pem);
  if (!m) return undefined;
  const body = m[2]!.replace(/\r?\n/g, '');
  if (body.length % 4 !== 0 || !BASE64.test(body)) return undefined;
  const der = Buffer.from(body, 'base64');
  const jwk = m[1] === 'RSA PRIVATE KEY' ? rsaPrivateKey(der, 0, der.length) : privateKeyInfo(der);
  der.fill(0);
  if (!jwk) return undefined;
  try {
    return createPrivateKey({ key: jwk, format: 'jwk' });
  } catch {
    return undefined;
  }
}
