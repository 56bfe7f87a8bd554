// The PKCS#11 key provider: master keys are AES-256 key objects inside a token (HSM), named by label per
// version; data keys are wrapped and unwrapped by the token with AES-GCM bound to the vault's AAD.

import { createHash, randomBytes } from 'node:crypto';
import { checkKeyLabels } from '../config.js';
import { VaultError } from '../errors.js';
import { type KeyProvider, type RandomBytes, versionNotConfigured } from '../provider.js';
import { CkError } from './binding.js';
import { CKA, CKK_AES, CKM_AES_KEY_GEN, CKO_SECRET_KEY, CKR } from './constants.js';
import { Pkcs11Error } from './errors.js';
import { Pkcs11SigningKeys } from './signing.js';
import { keyTemplate, Pkcs11Token, type TokenOptions, utf8 } from './token.js';

export interface Pkcs11KeyProviderOptions extends TokenOptions {
  /** The version that wraps new data keys; must be one of `keys`. */
  readonly current: string;
  /** Version name → label of the AES-256 key object in the token. */
  readonly keys: Readonly<Record<string, string>>;
  /** Randomness for wrapping IVs; default `crypto.randomBytes`. */
  readonly random?: RandomBytes;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const DEK_BYTES = 32;
/** Wrapped key layout, as the local provider's: IV ‖ encrypted data key ‖ tag. */
const WRAPPED_BYTES = IV_BYTES + DEK_BYTES + TAG_BYTES;
const MASTER_KEY_BYTES = 32;
/** A master key may encrypt and decrypt, nothing else, and can never be read out or changed. */
export const MASTER_KEY_FLAGS = {
  [CKA.TOKEN]: true,
  [CKA.PRIVATE]: true,
  [CKA.SENSITIVE]: true,
  [CKA.EXTRACTABLE]: false,
  [CKA.ENCRYPT]: true,
  [CKA.DECRYPT]: true,
  [CKA.WRAP]: false,
  [CKA.UNWRAP]: false,
  [CKA.SIGN]: false,
  [CKA.VERIFY]: false,
  [CKA.DERIVE]: false,
  [CKA.MODIFIABLE]: false,
};

/**
 * The fingerprint is the token's AES-GCM encryption of one zero block under a fixed IV and a fixed AAD, hashed:
 * deterministic, computed inside the token, and revealing nothing of the key. That IV is never used to wrap.
 */
const FINGERPRINT_IV = createHash('sha256')
  .update('noon-connect/vault/pkcs11/fingerprint-iv/v1')
  .digest()
  .subarray(0, IV_BYTES);
const FINGERPRINT_AAD = utf8('noon-connect/vault/pkcs11/fingerprint/v1');

/** C_Decrypt answers to a failed tag check: SoftHSM2 says CKR_GENERAL_ERROR, others CKR_ENCRYPTED_DATA_INVALID. */
const AUTH_FAILED: ReadonlySet<number> = new Set([
  CKR.ENCRYPTED_DATA_INVALID,
  CKR.ENCRYPTED_DATA_LEN_RANGE,
  CKR.GENERAL_ERROR,
  CKR.FUNCTION_FAILED,
  CKR.DATA_INVALID,
  CKR.SIGNATURE_INVALID,
]);

function configError(message: string): VaultError {
  return new VaultError('VAULT_CONFIG', message);
}

function decryptFailed(): VaultError {
  return new VaultError(
    'VAULT_DECRYPT_FAILED',
    'decryption failed: the value was altered or the context differs',
  );
}

/**
 * Master keys that never leave a PKCS#11 token. Open with `Pkcs11KeyProvider.open`, which logs in, finds every
 * configured label, refuses a key that is not a sensitive, non-extractable AES-256 key, and computes each
 * version's fingerprint inside the token. Close it when done (it holds a session and the module).
 *
 * Rotation: create a key object under a new label (`noon-connect vault keygen --pkcs11 --label …`), configure
 * it as a new current version beside the old one, run `noon-connect vault rotate --retire <old>`, then drop the
 * old version from the configuration (and destroy its object once no backup needs it).
 */
export class Pkcs11KeyProvider implements KeyProvider {
  readonly currentVersion: string;
  readonly #token: Pkcs11Token;
  readonly #labels: ReadonlyMap<string, string>;
  readonly #fingerprints = new Map<string, string>();
  readonly #random: RandomBytes;
  #signing: Pkcs11SigningKeys | undefined;

  private constructor(token: Pkcs11Token, labels: Map<string, string>, current: string, random: RandomBytes) {
    this.#token = token;
    this.#labels = labels;
    this.currentVersion = current;
    this.#random = random;
  }

  static async open(options: Pkcs11KeyProviderOptions): Promise<Pkcs11KeyProvider> {
    if (typeof options !== 'object' || options === null) throw configError('PKCS#11 options are missing');
    const labels = checkKeyLabels(options.current, options.keys);
    const token = await Pkcs11Token.open(options);
    const provider = new Pkcs11KeyProvider(token, labels, options.current, options.random ?? randomBytes);
    try {
      for (const [version, label] of labels) {
        token.run(`checking key "${label}"`, (s) => checkMasterKey(token, s, label));
        provider.#fingerprints.set(version, provider.#fingerprint(label));
      }
    } catch (e) {
      token.close();
      throw e;
    }
    return provider;
  }

  versions(): readonly string[] {
    return [...this.#labels.keys()];
  }

  /** The token label of a version's key object. */
  labelOf(version: string): string {
    const label = this.#labels.get(version);
    if (label === undefined) throw versionNotConfigured(version);
    return label;
  }

  async wrap(dek: Buffer, aad: Buffer, version: string): Promise<Buffer> {
    const label = this.labelOf(version);
    let iv = this.#random(IV_BYTES);
    while (iv.equals(FINGERPRINT_IV)) iv = this.#random(IV_BYTES);
    const sealed = this.#token.run(`wrapping with "${label}"`, (s) =>
      this.#token.cryptoki.gcmEncrypt(s, this.#token.key(s, CKO_SECRET_KEY, label), iv, aad, dek),
    );
    // `iv` now holds the IV the token used: its own, if it generates them.
    if (sealed.length !== DEK_BYTES + TAG_BYTES)
      throw new Pkcs11Error(
        'DEVICE_ERROR',
        `wrapping with "${label}": the token returned ${sealed.length} bytes`,
      );
    return Buffer.concat([iv, sealed]);
  }

  async unwrap(wrapped: Buffer, aad: Buffer, version: string): Promise<Buffer> {
    const label = this.labelOf(version);
    if (wrapped.length !== WRAPPED_BYTES)
      throw new VaultError('VAULT_DECRYPT_FAILED', 'decryption failed: the wrapped key has the wrong length');
    const iv = Buffer.from(wrapped.subarray(0, IV_BYTES));
    const sealed = Buffer.from(wrapped.subarray(IV_BYTES));
    const dek = this.#token.run(`unwrapping with "${label}"`, (s) => {
      const key = this.#token.key(s, CKO_SECRET_KEY, label);
      try {
        return this.#token.cryptoki.gcmDecrypt(s, key, iv, aad, sealed);
      } catch (e) {
        if (e instanceof CkError && e.fn === 'C_Decrypt' && AUTH_FAILED.has(e.rv)) return undefined;
        throw e;
      }
    });
    if (dek === undefined) {
      // Some modules report a failed tag check as a general error. The token is proven healthy, and the key
      // the same, by computing the fingerprint again: only then is it the value's fault, not the token's.
      if (this.#fingerprint(label) !== this.#fingerprints.get(version))
        throw new Pkcs11Error(
          'DEVICE_ERROR',
          `unwrapping with "${label}": the key object changed under the vault`,
        );
      throw decryptFailed();
    }
    if (dek.length !== DEK_BYTES) {
      dek.fill(0);
      throw decryptFailed();
    }
    return dek;
  }

  async fingerprint(version: string): Promise<string> {
    const label = this.labelOf(version);
    return this.#fingerprints.get(version) ?? this.#fingerprint(label);
  }

  #fingerprint(label: string): string {
    return this.#token.run(`fingerprinting "${label}"`, (s) => tokenFingerprint(this.#token, s, label));
  }

  /**
   * Seller signing keys in the same token and session (opt-in; see `SigningKeyStore`). They share the login
   * and are gone once the provider is closed.
   */
  signingKeys(): Pkcs11SigningKeys {
    this.#signing ??= new Pkcs11SigningKeys(this.#token);
    return this.#signing;
  }

  /** The token's label and the configured key labels by version, for diagnostics (nothing secret). */
  describe(): { token: string; slot: number; current: string; keys: Record<string, string> } {
    return {
      token: this.#token.label,
      slot: this.#token.slot,
      current: this.currentVersion,
      keys: Object.fromEntries(this.#labels),
    };
  }

  /** Closes the session (logging out) and releases the module. Later calls fail with reason CLOSED. */
  close(): void {
    this.#token.close();
  }
}

/**
 * Checks that a key object may serve as a master key: an AES-256 token object that is sensitive, was never
 * extractable, and may encrypt and decrypt. A key that could be read out would defeat the point of the token.
 */
function checkMasterKey(token: Pkcs11Token, session: number, label: string): void {
  const c = token.cryptoki;
  const key = token.key(session, CKO_SECRET_KEY, label);
  const bool = () => Buffer.alloc(1);
  const attrs = [
    { type: CKA.KEY_TYPE, value: Buffer.alloc(c.ulongBytes) },
    { type: CKA.VALUE_LEN, value: Buffer.alloc(c.ulongBytes) },
    { type: CKA.TOKEN, value: bool() },
    { type: CKA.SENSITIVE, value: bool() },
    { type: CKA.EXTRACTABLE, value: bool() },
    { type: CKA.ENCRYPT, value: bool() },
    { type: CKA.DECRYPT, value: bool() },
  ];
  const lengths = c.getAttributes(session, key, attrs);
  const [type, length, onToken, sensitive, extractable, encrypt, decrypt] = attrs.map((a, i) =>
    lengths[i] === a.value.length ? (a.value.length === 1 ? a.value[0]! : c.readUlong(a.value)) : undefined,
  );
  const problem =
    type !== CKK_AES || length !== MASTER_KEY_BYTES
      ? 'is not an AES-256 key'
      : onToken !== 1
        ? 'is a session object, not stored in the token'
        : sensitive !== 1 || extractable !== 0
          ? 'can be read out of the token (it must be sensitive and not extractable)'
          : encrypt !== 1 || decrypt !== 1
            ? 'is not allowed to encrypt and decrypt'
            : undefined;
  if (problem) throw new Pkcs11Error('KEY_UNSUITABLE', `key "${label}" in token "${token.label}" ${problem}`);
}

/** See FINGERPRINT_IV. Falls back to the token's key check value when it will not take a caller's IV. */
function tokenFingerprint(token: Pkcs11Token, session: number, label: string): string {
  const c = token.cryptoki;
  const key = token.key(session, CKO_SECRET_KEY, label);
  const iv = Buffer.from(FINGERPRINT_IV);
  let out: Buffer | undefined;
  try {
    out = c.gcmEncrypt(session, key, iv, FINGERPRINT_AAD, Buffer.alloc(16));
  } catch (e) {
    // FIPS-mode modules refuse an IV chosen by the caller.
    if (!(e instanceof CkError && e.rv === CKR.MECHANISM_PARAM_INVALID)) throw e;
  }
  if (out !== undefined && iv.equals(FINGERPRINT_IV))
    return `pkcs11-gcm:${createHash('sha256').update(out).digest('base64url')}`;
  // A module that generates its own IV gives a different answer each time: use CKA_CHECK_VALUE instead.
  const kcv = { type: CKA.CHECK_VALUE, value: Buffer.alloc(3) };
  const [len] = c.getAttributes(session, key, [kcv]);
  if (len !== 3)
    throw new Pkcs11Error('OPERATION_REFUSED', `key "${label}": the token can compute no fingerprint for it`);
  return `pkcs11-kcv:${kcv.value.toString('hex')}`;
}

/**
 * Creates a new master key object in the token: AES-256, generated inside the token, sensitive, never
 * extractable, allowed only to encrypt and decrypt, not modifiable. Refuses a label already in use
 * (KEY_EXISTS). Returns the new key's fingerprint.
 */
export async function generatePkcs11MasterKey(
  options: TokenOptions & { readonly label: string },
): Promise<string> {
  const { label } = options;
  if (typeof label !== 'string' || label.trim() === '') throw configError('the new key needs a label');
  const token = await Pkcs11Token.open(options);
  try {
    return token.run(`creating key "${label}"`, (s) => {
      const c = token.cryptoki;
      if (token.find(s, CKO_SECRET_KEY, label).length > 0)
        throw new Pkcs11Error(
          'KEY_EXISTS',
          `a key labelled "${label}" already exists in token "${token.label}"`,
        );
      c.generateKey(
        s,
        CKM_AES_KEY_GEN,
        keyTemplate(c, CKO_SECRET_KEY, CKK_AES, label, MASTER_KEY_FLAGS, [
          { type: CKA.VALUE_LEN, value: c.ulong(MASTER_KEY_BYTES) },
        ]),
      );
      return tokenFingerprint(token, s, label);
    });
  } finally {
    token.close();
  }
}
