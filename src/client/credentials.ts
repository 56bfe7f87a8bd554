// Service-account credentials (the key file, contract §2): loaded from an object, JSON text or a file path,
// every field checked by name, the private key imported once as an RSA KeyObject and reused for every login;
// or, for a key that lives elsewhere (an HSM), its metadata and a signer that makes RS256 signatures there.

import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { isRecord } from './checks.js';
import { NoonError, NoonTypeError } from './errors.js';
import { importRsaPemFast } from './rsa-pem.js';

/** A key file as Noon hands it out (field names are Noon's). */
export interface KeyFile {
  key_id: string;
  private_key: string;
  channel_identifier: string;
  project_code: string;
  type: string;
  issued_at: string;
}

/** Smallest RSA modulus accepted: RS256 keys under 2048 bits are refused by every JOSE library. */
const MIN_MODULUS_BITS = 2048;

/**
 * Makes an RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) of `data` with a key held outside the process, e.g.
 * inside a PKCS#11 token. Called once per login, with that login's JWT signing input.
 */
export type LoginSigner = (data: Uint8Array) => Promise<Uint8Array>;

/**
 * A loaded key file. The private key lives only inside `privateKey` (a KeyObject: it never serializes), or, for
 * credentials made with {@link NoonCredentials.fromSigner}, not in this process at all.
 */
export class NoonCredentials {
  readonly keyId: string;
  readonly channelIdentifier: string;
  readonly projectCode: string;
  readonly type: string;
  readonly issuedAt: string;
  readonly #privateKey: KeyObject | undefined;
  readonly #signer: LoginSigner | undefined;

  constructor(file: Omit<KeyFile, 'private_key'>, privateKey: KeyObject | LoginSigner) {
    this.keyId = file.key_id;
    this.channelIdentifier = file.channel_identifier;
    this.projectCode = file.project_code;
    this.type = file.type;
    this.issuedAt = file.issued_at;
    if (typeof privateKey === 'function') this.#signer = privateKey;
    else this.#privateKey = privateKey;
    Object.freeze(this);
  }

  /**
   * Credentials whose private key stays where `sign` reaches it (an HSM): every login JWT is signed by `sign`.
   * `file` is the key file's metadata, every field checked as in a key file; a `private_key` in it is ignored.
   */
  static fromSigner(file: Omit<KeyFile, 'private_key'>, sign: LoginSigner): NoonCredentials {
    if (typeof sign !== 'function')
      throw new NoonTypeError('INVALID_ARGUMENT', 'fromSigner needs a signing function');
    const checked = checkKeyFileFields(file, credentialsFailure(''));
    return new NoonCredentials(checked, sign);
  }

  /** The RSA private key, for credentials loaded from a key file; a TypeError for signer-backed ones. */
  get privateKey(): KeyObject {
    if (this.#privateKey === undefined)
      throw new NoonTypeError(
        'INVALID_ARGUMENT',
        'these credentials sign through a signer; their private key is not in this process',
      );
    return this.#privateKey;
  }

  /** Whether the private key is outside this process (credentials made with `fromSigner`). */
  get signsElsewhere(): boolean {
    return this.#signer !== undefined;
  }

  /** An RS256 signature of `data`: at once with the imported key, or through the signer. */
  signRs256(data: Buffer): Buffer | Promise<Buffer> {
    if (this.#signer === undefined) {
      const signature = sign('sha256', data, this.#privateKey!);
      const pending = firstSignChecks.get(this);
      if (pending) {
        // The deferred key check: this first signature is the probe (see `withFirstSignCheck`).
        if (!verifies(this.#privateKey!, data, signature)) throw pending();
        firstSignChecks.delete(this);
      }
      return signature;
    }
    return this.#signer(data).then((sig) => Buffer.from(sig));
  }

  /** Metadata only: logging or serializing credentials never prints the key. */
  toJSON(): Record<string, string> {
    return {
      keyId: this.keyId,
      channelIdentifier: this.channelIdentifier,
      projectCode: this.projectCode,
      type: this.type,
      issuedAt: this.issuedAt,
    };
  }

  [inspect.custom](): string {
    return `NoonCredentials ${inspect(this.toJSON())}`;
  }
}

/** Builds the error for a failed field check; key-file loading and response checks phrase it differently. */
export type FieldFailure = (field: string, problem: string) => NoonError;

const KEY_FILE_FIELDS = ['key_id', 'channel_identifier', 'project_code', 'type', 'issued_at'] as const;

/** Checks the named fields of a key-file object (extra fields ignored). */
function checkFields<N extends string>(
  value: unknown,
  names: readonly N[],
  fail: FieldFailure,
): Record<N, string> {
  if (!isRecord(value)) throw fail('', 'is not an object');
  const out = {} as Record<N, string>;
  for (const name of names) {
    const v = value[name];
    if (typeof v !== 'string') throw fail(name, v === undefined ? 'is missing' : 'is not a string');
    if (v.trim() === '') throw fail(name, 'is empty');
    out[name] = v;
  }
  if ('issued_at' in out && !Number.isFinite(Date.parse(out.issued_at as string)))
    throw fail('issued_at', 'is not a date');
  return out;
}

/** Checks a key file's metadata field by field (extra fields, and `private_key`, ignored). */
export function checkKeyFileFields(value: unknown, fail: FieldFailure): Omit<KeyFile, 'private_key'> {
  return checkFields(value, KEY_FILE_FIELDS, fail);
}

/** Checks a key-file object field by field (extra fields ignored) and imports its private key. */
export function checkKeyFile(value: unknown, fail: FieldFailure): { file: KeyFile; key: KeyObject } {
  const out = checkFields(value, ['key_id', 'private_key', ...KEY_FILE_FIELDS.slice(1)] as const, fail);
  const key = importRsaPrivateKey(out.private_key, fail);
  return { file: out, key };
}

/**
 * Imports an RSA private key from PEM: PKCS#1 (`BEGIN RSA PRIVATE KEY`, Noon's example) and PKCS#8 (`BEGIN
 * PRIVATE KEY`, portal files) (NC3); jose's importPKCS8 would refuse PKCS#1. The usual unencrypted RSA shapes take
 * a fast path (./rsa-pem.ts, the same key for ~1/30 of the cost); anything else goes to `createPrivateKey`.
 * The OpenSSL message is not passed on: only what kind of problem it was.
 */
export function importRsaPrivateKey(pem: string, fail: FieldFailure): KeyObject {
  let key: KeyObject | undefined = importRsaPemFast(pem);
  if (key === undefined) {
    try {
      key = createPrivateKey({ key: pem, format: 'pem' });
    } catch {
      throw fail('private_key', 'is not a readable PEM private key');
    }
  }
  if (key.asymmetricKeyType !== 'rsa') throw fail('private_key', 'is not an RSA key');
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_MODULUS_BITS) throw fail('private_key', `is shorter than ${MIN_MODULUS_BITS} bits`);
  return key;
}

/** Signs a probe with the key and verifies it with the derived public key: catches a corrupt key at once. */
export function keySignsAndVerifies(key: KeyObject): boolean {
  try {
    const probe = Buffer.from('noon-connect key check');
    return verifies(key, probe, sign('sha256', probe, key));
  } catch {
    return false;
  }
}

function verifies(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return verify('sha256', data, createPublicKey(key), signature);
  } catch {
    return false;
  }
}

/** Credentials whose first signature is still to be verified, with the error a failure throws. */
const firstSignChecks = new WeakMap<NoonCredentials, () => NoonError>();

/**
 * The key check of {@link keySignsAndVerifies} without its extra signature: the credentials' first signature (in
 * practice the first login's JWT) is verified with the key's public half before it leaves, and `fail()` is
 * thrown if it does not verify. For a key that will sign at once anyway (a login that checks a new key).
 */
export function withFirstSignCheck(file: KeyFile, key: KeyObject, fail: () => NoonError): NoonCredentials {
  const credentials = new NoonCredentials(file, key);
  firstSignChecks.set(credentials, fail);
  return credentials;
}

/** When a fresh key's sign-and-verify check runs: at once (a probe signature), or on its first signature. */
export type KeyCheck = 'now' | 'first-sign';

const credentialsFailure =
  (source: string): FieldFailure =>
  (field, problem) =>
    new NoonError('CREDENTIALS_INVALID', `key file${source}: ${field ? `${field} ` : ''}${problem}`, {
      ...(field ? { field } : {}),
    });

/** A key file from an object or from JSON text. */
export function parseCredentials(input: KeyFile | Record<string, unknown> | string): NoonCredentials {
  let value: unknown = input;
  const fail = credentialsFailure('');
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      // The parser's message quotes the text, which holds the private key: say only what went wrong.
      throw fail('', 'is not valid JSON');
    }
  } else if (!isRecord(input)) {
    throw new NoonTypeError('INVALID_ARGUMENT', 'credentials must be a key-file object, JSON text or a path');
  }
  const { file, key } = checkKeyFile(value, fail);
  return new NoonCredentials(file, key);
}

/**
 * A key file from an object, JSON text (anything starting with `{`) or the path of a file holding it.
 * Import the key once and share the result: every login signs with the same KeyObject.
 */
export async function loadCredentials(
  input: KeyFile | Record<string, unknown> | string | URL,
): Promise<NoonCredentials> {
  if (input instanceof URL || (typeof input === 'string' && !input.trimStart().startsWith('{'))) {
    if (input === '') throw new NoonTypeError('INVALID_ARGUMENT', 'credentials path is empty');
    let text: string;
    try {
      text = await readFile(input, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new NoonError('CREDENTIALS_INVALID', `key file cannot be read (${code})`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw credentialsFailure('')('', 'is not valid JSON');
    }
    const { file, key } = checkKeyFile(value, credentialsFailure(''));
    return new NoonCredentials(file, key);
  }
  return parseCredentials(input);
}
