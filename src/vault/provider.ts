// Where master keys live: the KeyProvider interface the vault talks to, and the local (in-process) provider.

import { createHmac, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import { gcmDecrypt, gcmEncrypt } from './aead.js';
import { decodeMasterKeys, parseKeyConfig, readKeyConfigFile } from './config.js';
import { isVersionName } from './encoding.js';
import { VaultError, VaultKeyMissingError } from './errors.js';

/** A source of random bytes; tests inject a recording or deterministic one. */
export type RandomBytes = (size: number) => Buffer;

/**
 * Holds the master keys and wraps data keys with them. All methods are async so a provider backed by a KMS
 * (where the master key never leaves the service) fits the same shape.
 *
 * - `wrap` and `unwrap` must authenticate `aad`: an unwrap with different AAD must fail.
 * - An authentication failure in `unwrap` is reported as a `VaultError` with code `VAULT_DECRYPT_FAILED`; an
 *   unknown version as `VaultKeyMissingError`. Any other error (a KMS being unreachable) propagates as it is,
 *   so callers can retry it instead of treating the record as damaged.
 * - `fingerprint` identifies the key material of a version without revealing it; it must change whenever the
 *   material changes. The vault records it on first start and compares it on every later one.
 */
export interface KeyProvider {
  /** The version new data keys are wrapped with. */
  readonly currentVersion: string;
  /** Every version this provider can unwrap with, including the current one. */
  versions(): readonly string[];
  /** Wraps a 32-byte data key under `version`; the result is opaque bytes (at most 4096). */
  wrap(dek: Buffer, aad: Buffer, version: string): Promise<Buffer>;
  /** Recovers a data key wrapped under `version`. */
  unwrap(wrapped: Buffer, aad: Buffer, version: string): Promise<Buffer>;
  /** A stable, non-secret identifier of the key material behind `version`. */
  fingerprint(version: string): Promise<string>;
}

/**
 * Where private signing keys can live outside process memory (opt-in): a key imported once is then used only by
 * its label; the store signs with it and never hands it back. `Pkcs11KeyProvider.signingKeys()` is one.
 */
export interface SigningKeyStore {
  /**
   * Imports an RSA private key (PEM text or a KeyObject) under `label` and returns its public key. Importing
   * the same key under the same label again is a no-op (a retry after a crash); another key under a label in
   * use is refused.
   */
  importKey(label: string, key: string | KeyObject): Promise<KeyObject>;
  /** An RSASSA-PKCS1-v1_5 SHA-256 signature (JWS RS256) of `data`, made where the key lives. */
  sign(label: string, data: Uint8Array): Promise<Buffer>;
  /** Whether a key is stored under `label`. */
  has(label: string): Promise<boolean>;
  /** Removes the key under `label`; false when there was none. */
  destroy(label: string): Promise<boolean>;
}

/** What a provider throws for a version it does not hold (naming it only when it is a valid version name). */
export function versionNotConfigured(version: string): VaultKeyMissingError {
  const valid = isVersionName(version);
  return new VaultKeyMissingError(
    valid ? version : '',
    `vault key version ${valid ? `"${version}"` : '(invalid name)'} is not configured`,
  );
}

/** Options of a LocalKeyProvider: named master key versions and which one is current. */
export interface LocalKeyProviderOptions {
  /** The version that wraps new data keys; must be one of `keys`. */
  readonly current: string;
  /** Version name → 32-byte master key, as base64 text (what `keygen` prints) or raw bytes. */
  readonly keys: Readonly<Record<string, string | Uint8Array>>;
  /** Randomness for wrapping IVs; default `crypto.randomBytes`. */
  readonly random?: RandomBytes;
}

const WRAP_IV_BYTES = 12;
const WRAP_TAG_BYTES = 16;
const DEK_BYTES = 32;
/** Local wrapped key layout: IV ‖ encrypted data key ‖ tag. */
const WRAPPED_BYTES = WRAP_IV_BYTES + DEK_BYTES + WRAP_TAG_BYTES;
const WRAP_INFO = 'noon-connect/vault/local/wrap-key/v1';
const FINGERPRINT_INFO = 'noon-connect/vault/local/fingerprint-key/v1';
const FINGERPRINT_LABEL = 'noon-connect/vault/key-check/v1';

function derive(master: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
}

/** The decoded, checked material of one version (only derived keys are kept). */
interface Version {
  readonly wrapKey: Buffer;
  readonly fingerprint: string;
}

/**
 * Master keys held in process memory, from configuration. Each master key is used only through keys derived
 * from it with HKDF (one for wrapping, one for the fingerprint), so the fingerprint reveals nothing usable
 * for wrapping and the master key itself is not kept after construction. Data keys are wrapped with
 * AES-256-GCM (AES key wrap has no AAD, and the wrapped key must be bound to its context).
 */
export class LocalKeyProvider implements KeyProvider {
  readonly currentVersion: string;
  readonly #versions: ReadonlyMap<string, Version>;
  readonly #random: RandomBytes;

  constructor(options: LocalKeyProviderOptions) {
    const masters = decodeMasterKeys(options);
    const versions = new Map<string, Version>();
    for (const [name, master] of masters) {
      const fingerprintKey = derive(master, FINGERPRINT_INFO);
      const fingerprint = `hmac-sha256:${createHmac('sha256', fingerprintKey).update(FINGERPRINT_LABEL).digest('base64url')}`;
      fingerprintKey.fill(0);
      versions.set(name, { wrapKey: derive(master, WRAP_INFO), fingerprint });
      master.fill(0);
    }
    this.currentVersion = options.current;
    this.#versions = versions;
    this.#random = options.random ?? randomBytes;
  }

  /** From configuration text the caller read, e.g. an env-var value (see `parseKeyConfig`). */
  static fromValue(text: string | undefined, random?: RandomBytes): LocalKeyProvider {
    const options = parseKeyConfig(text);
    return new LocalKeyProvider(random ? { ...options, random } : options);
  }

  /** From a key configuration file (see `readKeyConfigFile`). */
  static async fromFile(path: string, random?: RandomBytes): Promise<LocalKeyProvider> {
    const options = await readKeyConfigFile(path);
    return new LocalKeyProvider(random ? { ...options, random } : options);
  }

  versions(): readonly string[] {
    return [...this.#versions.keys()];
  }

  #version(version: string): Version {
    const v = this.#versions.get(version);
    if (v === undefined) throw versionNotConfigured(version);
    return v;
  }

  async wrap(dek: Buffer, aad: Buffer, version: string): Promise<Buffer> {
    const { wrapKey } = this.#version(version);
    const iv = this.#random(WRAP_IV_BYTES);
    const { ciphertext, tag } = gcmEncrypt(wrapKey, iv, dek, aad);
    return Buffer.concat([iv, ciphertext, tag]);
  }

  async unwrap(wrapped: Buffer, aad: Buffer, version: string): Promise<Buffer> {
    const { wrapKey } = this.#version(version);
    if (wrapped.length !== WRAPPED_BYTES)
      throw new VaultError('VAULT_DECRYPT_FAILED', 'decryption failed: the wrapped key has the wrong length');
    return gcmDecrypt(
      wrapKey,
      wrapped.subarray(0, WRAP_IV_BYTES),
      wrapped.subarray(WRAP_IV_BYTES, WRAP_IV_BYTES + DEK_BYTES),
      wrapped.subarray(WRAP_IV_BYTES + DEK_BYTES),
      aad,
    );
  }

  async fingerprint(version: string): Promise<string> {
    return this.#version(version).fingerprint;
  }
}
