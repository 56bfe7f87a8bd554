// Seller signing keys inside the token: an RSA private key imported as a non-extractable object, RS256
// signatures made by the token, and the object destroyed with the connection's key.

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { usageError } from '../errors.js';
import type { SigningKeyStore } from '../provider.js';
import { CKA, CKK_RSA, CKM_SHA256_RSA_PKCS, CKO_PRIVATE_KEY } from './constants.js';
import { Pkcs11Error } from './errors.js';
import { keyTemplate, type Pkcs11Token } from './token.js';

/** JWK members of an RSA private key, in the order of their PKCS#11 attributes. */
const RSA_PARTS = [
  ['n', CKA.MODULUS],
  ['e', CKA.PUBLIC_EXPONENT],
  ['d', CKA.PRIVATE_EXPONENT],
  ['p', CKA.PRIME_1],
  ['q', CKA.PRIME_2],
  ['dp', CKA.EXPONENT_1],
  ['dq', CKA.EXPONENT_2],
  ['qi', CKA.COEFFICIENT],
] as const;

/** A seller key may only sign, lives in the token, and can never be read out. */
const SIGNING_KEY_FLAGS = {
  [CKA.TOKEN]: true,
  [CKA.PRIVATE]: true,
  [CKA.SENSITIVE]: true,
  [CKA.EXTRACTABLE]: false,
  [CKA.SIGN]: true,
  [CKA.DECRYPT]: false,
  [CKA.UNWRAP]: false,
  [CKA.DERIVE]: false,
};

/** Largest modulus read back when checking an existing object (RSA-8192). */
const MAX_MODULUS_BYTES = 1024;

function toKeyObject(key: string | KeyObject): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPrivateKey({ key, format: 'pem' }) : key;
  } catch {
    // The parser's message could quote the input: say only what kind of problem it was.
    throw usageError('the signing key is not a readable PEM private key');
  }
  if (k.type !== 'private' || k.asymmetricKeyType !== 'rsa')
    throw usageError('the signing key must be an RSA private key');
  return k;
}

function checkLabel(label: string): void {
  if (typeof label !== 'string' || label === '' || Buffer.byteLength(label) > 127)
    throw usageError('a signing key label must be 1-127 bytes');
}

/**
 * `SigningKeyStore` on a PKCS#11 token. Objects are token objects (they survive restarts), private (only a
 * logged-in user sees them), sensitive and not extractable: the token signs with them and never hands them out.
 */
export class Pkcs11SigningKeys implements SigningKeyStore {
  readonly #token: Pkcs11Token;

  constructor(token: Pkcs11Token) {
    this.#token = token;
  }

  async importKey(label: string, key: string | KeyObject): Promise<KeyObject> {
    checkLabel(label);
    const k = toKeyObject(key);
    const publicKey = createPublicKey(k);
    const jwk = k.export({ format: 'jwk' });
    const parts = RSA_PARTS.map(([name, type]) => ({
      type,
      value: Buffer.from((jwk as Record<string, string>)[name] ?? '', 'base64url'),
    }));
    const modulus = parts[0]!.value;
    const t = this.#token;
    try {
      t.run(`importing signing key "${label}"`, (s) => {
        const existing = t.find(s, CKO_PRIVATE_KEY, label);
        if (existing.length > 0) {
          // A second import of the same key (a retry after a crash) is fine; another key under its label is not.
          const stored = { type: CKA.MODULUS, value: Buffer.alloc(MAX_MODULUS_BYTES) };
          const [len] = t.cryptoki.getAttributes(s, existing[0]!, [stored]);
          if (
            existing.length === 1 &&
            len === modulus.length &&
            stored.value.subarray(0, len).equals(modulus)
          )
            return;
          throw new Pkcs11Error(
            'KEY_EXISTS',
            `another signing key is labelled "${label}" in token "${t.label}"`,
          );
        }
        const c = t.cryptoki;
        c.createObject(s, keyTemplate(c, CKO_PRIVATE_KEY, CKK_RSA, label, SIGNING_KEY_FLAGS, parts));
      });
    } finally {
      // The JWK's strings cannot be wiped (JavaScript strings are immutable); the byte copies can.
      for (const p of parts) p.value.fill(0);
    }
    return publicKey;
  }

  async sign(label: string, data: Uint8Array): Promise<Buffer> {
    checkLabel(label);
    const t = this.#token;
    return t.run(`signing with "${label}"`, (s) =>
      t.cryptoki.sign(s, CKM_SHA256_RSA_PKCS, t.key(s, CKO_PRIVATE_KEY, label), Buffer.from(data)),
    );
  }

  async has(label: string): Promise<boolean> {
    checkLabel(label);
    const t = this.#token;
    return t.run(`looking up signing key "${label}"`, (s) => t.find(s, CKO_PRIVATE_KEY, label).length > 0);
  }

  async destroy(label: string): Promise<boolean> {
    checkLabel(label);
    const t = this.#token;
    return t.run(`destroying signing key "${label}"`, (s) => {
      const found = t.find(s, CKO_PRIVATE_KEY, label, 16);
      for (const object of found) t.cryptoki.destroyObject(s, object);
      t.forget(CKO_PRIVATE_KEY, label);
      return found.length > 0;
    });
  }
}
