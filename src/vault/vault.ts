// Envelope encryption for secrets at rest: a fresh data key per record, wrapped by a versioned master key.

import { randomBytes } from 'node:crypto';
import { gcmDecrypt, gcmEncrypt } from './aead.js';
import { checkContext, encodeAad, isVersionName, type SealContext } from './encoding.js';
import {
  DEK_BYTES,
  type Envelope,
  FORMAT,
  formatEnvelope,
  IV_BYTES,
  MAX_WRAPPED_BYTES,
  parseEnvelope,
} from './envelope.js';
import { usageError, VaultError, VaultKeyMissingError } from './errors.js';
import {
  KEYRING_META_NAME,
  type Keyring,
  parseKeyring,
  reconcileKeyring,
  serializeKeyring,
  type VaultMeta,
} from './keyring.js';
import type { KeyProvider, RandomBytes } from './provider.js';

export interface VaultOptions {
  /** Holds the master keys. */
  readonly provider: KeyProvider;
  /** Where the key fingerprints are recorded (see `VaultMeta`). */
  readonly meta: VaultMeta;
  /** Randomness for data keys and IVs; default `crypto.randomBytes`. */
  readonly random?: RandomBytes;
}

/** Domain labels of the two AADs; they differ so neither can stand in for the other. */
const PAYLOAD_LABEL = `noon-connect/vault/${FORMAT}/payload`;
const DEK_LABEL = `noon-connect/vault/${FORMAT}/data-key`;
/** Bounded retries when another instance writes the key record at the same moment. */
const KEYRING_ATTEMPTS = 5;

function payloadAad(context: SealContext): Buffer {
  // The payload's AAD leaves out the key version, so a re-wrap can change the version without touching it.
  return encodeAad(PAYLOAD_LABEL, context);
}

function dekAad(context: SealContext, version: string): Buffer {
  return encodeAad(DEK_LABEL, context, [version]);
}

function toBytes(plaintext: string | Uint8Array): Uint8Array {
  if (typeof plaintext === 'string') return Buffer.from(plaintext, 'utf8');
  if (plaintext instanceof Uint8Array) return plaintext;
  throw usageError('vault plaintext must be a string or a Uint8Array');
}

/**
 * Reads, checks and writes the key record until the stored value agrees with this configuration. Nothing is
 * written unless every check passes. A concurrent writer is caught by `setIfAbsent` on first start, and
 * otherwise by reading back what was written; either way the checks run again on what the other one wrote.
 */
async function updateKeyring(meta: VaultMeta, next: (stored: Keyring) => Keyring | undefined): Promise<void> {
  for (let attempt = 0; attempt < KEYRING_ATTEMPTS; attempt++) {
    const raw = await meta.get(KEYRING_META_NAME);
    const updated = next(parseKeyring(raw));
    if (updated === undefined) return;
    const text = serializeKeyring(updated);
    if (raw === undefined && meta.setIfAbsent) {
      if ((await meta.setIfAbsent(KEYRING_META_NAME, text)) === text) return;
      continue;
    }
    await meta.set(KEYRING_META_NAME, text);
    if ((await meta.get(KEYRING_META_NAME)) === text) return;
  }
  throw new VaultError(
    'VAULT_CONFIG',
    `the vault's key record ("${KEYRING_META_NAME}") keeps changing under it`,
  );
}

/**
 * Seals and opens secrets. Each `seal` draws a fresh 256-bit data key and 96-bit IV, encrypts with
 * AES-256-GCM, and wraps the data key with the provider's current master key version; both the payload and
 * the wrapped key are bound to the caller's context (tenant, project, credential id, purpose), so a sealed
 * value copied to another row does not open. Built only through `Vault.open`, which refuses to start when a
 * master key is missing or differs from the one recorded on first start.
 */
export class Vault {
  readonly #provider: KeyProvider;
  readonly #meta: VaultMeta;
  readonly #random: RandomBytes;
  readonly #current: string;
  readonly #versions: ReadonlySet<string>;

  private constructor(provider: KeyProvider, meta: VaultMeta, random: RandomBytes, versions: Set<string>) {
    this.#provider = provider;
    this.#meta = meta;
    this.#random = random;
    this.#current = provider.currentVersion;
    this.#versions = versions;
  }

  /**
   * Checks the provider's keys against the fingerprints in `meta` and returns a ready vault. On first start
   * (or when a version is new) the fingerprints are recorded. Refuses with VAULT_KEY_MISMATCH when a
   * configured key differs from the recorded one, VAULT_KEY_MISSING when a recorded version is not
   * configured (unless it was retired), VAULT_CONFIG for a bad configuration. A refused start writes nothing.
   */
  static async open(options: VaultOptions): Promise<Vault> {
    if (typeof options !== 'object' || options === null) throw usageError('Vault.open needs options');
    const { provider, meta } = options;
    if (
      typeof provider !== 'object' ||
      provider === null ||
      typeof provider.versions !== 'function' ||
      typeof provider.wrap !== 'function' ||
      typeof provider.unwrap !== 'function' ||
      typeof provider.fingerprint !== 'function'
    )
      throw usageError('Vault.open needs a KeyProvider as "provider"');
    if (
      typeof meta !== 'object' ||
      meta === null ||
      typeof meta.get !== 'function' ||
      typeof meta.set !== 'function' ||
      (meta.setIfAbsent !== undefined && typeof meta.setIfAbsent !== 'function')
    )
      throw usageError('Vault.open needs a metadata store with get and set as "meta"');
    const current = provider.currentVersion;
    const versions = new Set(provider.versions());
    if (!isVersionName(current) || [...versions].some((v) => !isVersionName(v)))
      throw new VaultError('VAULT_CONFIG', 'the key provider names an invalid key version');
    if (!versions.has(current))
      throw new VaultError('VAULT_CONFIG', 'the key provider does not hold its own current version');
    const fingerprints = new Map<string, string>();
    for (const v of versions) {
      const fp = await provider.fingerprint(v);
      if (typeof fp !== 'string' || fp === '')
        throw new VaultError('VAULT_CONFIG', `the key provider gave no fingerprint for version "${v}"`);
      fingerprints.set(v, fp);
    }
    await updateKeyring(meta, (stored) => reconcileKeyring(stored, fingerprints, current));
    return new Vault(provider, meta, options.random ?? randomBytes, versions);
  }

  /** The master key version new seals and re-wraps use. */
  get currentVersion(): string {
    return this.#current;
  }

  /** Encrypts `plaintext` for `context`; the result is plain ASCII, safe for a TEXT column. */
  async seal(plaintext: string | Uint8Array, context: SealContext): Promise<string> {
    checkContext(context);
    const bytes = toBytes(plaintext);
    const dek = this.#draw(DEK_BYTES);
    try {
      const iv = this.#draw(IV_BYTES);
      const { ciphertext, tag } = gcmEncrypt(dek, iv, bytes, payloadAad(context));
      const wrappedDek = await this.#wrap(dek, context);
      return formatEnvelope({ keyVersion: this.#current, wrappedDek, iv, ciphertext, tag });
    } finally {
      dek.fill(0);
    }
  }

  /**
   * Decrypts a sealed value; `context` must be the one it was sealed with. Any alteration, or a different
   * context, fails with VAULT_DECRYPT_FAILED (VAULT_FORMAT when it does not even parse) and yields no
   * plaintext at all.
   */
  async open(sealed: string, context: SealContext): Promise<Buffer> {
    checkContext(context);
    const envelope = parseEnvelope(sealed);
    const dek = await this.#unwrap(envelope, context);
    try {
      return gcmDecrypt(dek, envelope.iv, envelope.ciphertext, envelope.tag, payloadAad(context));
    } finally {
      dek.fill(0);
    }
  }

  /**
   * Moves a sealed value to the current master key version by unwrapping its data key and wrapping it again.
   * The payload is never decrypted: IV, ciphertext and tag are kept byte for byte (so a damaged payload is
   * only noticed by `open`). A value already under the current version is returned unchanged, after its data
   * key was checked against `context`; use `needsRewrap` to skip those without a provider call.
   */
  async rewrap(sealed: string, context: SealContext): Promise<string> {
    checkContext(context);
    const envelope = parseEnvelope(sealed);
    // Unwrapping first checks the context even when there is nothing to move, so a re-wrap job run with the
    // wrong row's context fails loudly instead of passing silently.
    const dek = await this.#unwrap(envelope, context);
    try {
      if (envelope.keyVersion === this.#current) return sealed;
      const wrappedDek = await this.#wrap(dek, context);
      return formatEnvelope({ ...envelope, keyVersion: this.#current, wrappedDek });
    } finally {
      dek.fill(0);
    }
  }

  /** Whether a sealed value names a master key version other than the current one. */
  needsRewrap(sealed: string): boolean {
    return parseEnvelope(sealed).keyVersion !== this.#current;
  }

  /** The master key version that sealed (or last re-wrapped) a value. */
  keyVersionOf(sealed: string): string {
    return parseEnvelope(sealed).keyVersion;
  }

  /**
   * Releases a master key version so it may be removed from the configuration. The vault cannot see the
   * stored records: the caller must first re-wrap every value the version sealed (`needsRewrap` is false for
   * all of them, across every table and every tenant). The version name stays reserved: its fingerprint is
   * kept, so the name can never come back with other key material, nor become current again.
   */
  async retire(version: string): Promise<void> {
    if (!isVersionName(version)) throw usageError('vault key version name is not valid');
    if (version === this.#current)
      throw new VaultError('VAULT_CONFIG', `vault key version "${version}" is current and cannot be retired`);
    await updateKeyring(this.#meta, (stored) => {
      if (Object.hasOwn(stored.retired, version)) return undefined;
      const fingerprint = stored.active[version];
      if (fingerprint === undefined)
        throw new VaultError(
          'VAULT_CONFIG',
          `vault key version "${version}" is not recorded and cannot be retired`,
        );
      const active = { ...stored.active };
      delete active[version];
      return { format: 1, active, retired: { ...stored.retired, [version]: fingerprint } };
    });
  }

  #draw(size: number): Buffer {
    const bytes = this.#random(size);
    if (!Buffer.isBuffer(bytes) || bytes.length !== size)
      throw usageError('the vault random source returned the wrong number of bytes');
    return bytes;
  }

  async #wrap(dek: Buffer, context: SealContext): Promise<Buffer> {
    const wrapped = await this.#provider.wrap(dek, dekAad(context, this.#current), this.#current);
    if (!Buffer.isBuffer(wrapped) || wrapped.length === 0 || wrapped.length > MAX_WRAPPED_BYTES)
      throw new VaultError('VAULT_CONFIG', `the key provider returned a wrapped key of an invalid size`);
    return wrapped;
  }

  async #unwrap(envelope: Envelope, context: SealContext): Promise<Buffer> {
    const version = envelope.keyVersion;
    // Only versions whose fingerprints were checked at start-up are used.
    if (!this.#versions.has(version))
      throw new VaultKeyMissingError(version, `vault key version "${version}" is not configured`);
    const dek = await this.#provider.unwrap(envelope.wrappedDek, dekAad(context, version), version);
    if (dek.length !== DEK_BYTES) {
      dek.fill(0);
      throw new VaultError('VAULT_DECRYPT_FAILED', 'decryption failed: the data key has the wrong length');
    }
    return dek;
  }
}
