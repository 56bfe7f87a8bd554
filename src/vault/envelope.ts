// The sealed value's text format: `ncv1.<keyVersion>.<wrappedDek>.<iv>.<ciphertext>.<tag>`, parsed strictly.

import { decodeBase64url, isVersionName } from './encoding.js';
import { VaultError } from './errors.js';

/** The format tag every sealed value starts with; a new layout gets a new tag, never a silent change. */
export const FORMAT = 'ncv1';
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const DEK_BYTES = 32;
/** Upper bound on a provider's wrapped data key (a KMS ciphertext blob is a few hundred bytes). */
export const MAX_WRAPPED_BYTES = 4096;

/** The parts of a sealed value, decoded. */
export interface Envelope {
  readonly keyVersion: string;
  readonly wrappedDek: Buffer;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

const PART_NAMES = ['format', 'key version', 'wrapped key', 'iv', 'ciphertext', 'tag'] as const;

function formatError(message: string): VaultError {
  return new VaultError('VAULT_FORMAT', `sealed value is malformed: ${message}`);
}

function decodePart(parts: readonly string[], index: 2 | 3 | 4 | 5): Buffer {
  const bytes = decodeBase64url(parts[index]!);
  if (bytes === undefined) throw formatError(`${PART_NAMES[index]} is not canonical base64url`);
  return bytes;
}

/**
 * Parses a sealed value. Every part is checked before anything is decrypted, and any deviation (wrong part
 * count, unknown format, non-canonical base64url, wrong IV or tag length) is a VAULT_FORMAT error. Messages
 * name the part, never its content.
 */
export function parseEnvelope(sealed: unknown): Envelope {
  if (typeof sealed !== 'string') throw formatError('not a string');
  const parts = sealed.split('.');
  if (parts.length !== PART_NAMES.length)
    throw formatError(`expected ${PART_NAMES.length} dot-separated parts, found ${parts.length}`);
  if (parts[0] !== FORMAT) throw formatError('unknown format tag');
  const keyVersion = parts[1]!;
  if (!isVersionName(keyVersion)) throw formatError('key version is not a valid version name');
  const wrappedDek = decodePart(parts, 2);
  if (wrappedDek.length === 0 || wrappedDek.length > MAX_WRAPPED_BYTES)
    throw formatError(`wrapped key must be 1 to ${MAX_WRAPPED_BYTES} bytes`);
  const iv = decodePart(parts, 3);
  if (iv.length !== IV_BYTES) throw formatError(`iv must be ${IV_BYTES} bytes`);
  const ciphertext = decodePart(parts, 4);
  const tag = decodePart(parts, 5);
  // A short tag is refused here, before any decryption: a truncated GCM tag is forgeable far more easily.
  if (tag.length !== TAG_BYTES) throw formatError(`tag must be ${TAG_BYTES} bytes`);
  return { keyVersion, wrappedDek, iv, ciphertext, tag };
}

/** Writes an envelope in the sealed text format. */
export function formatEnvelope(e: Envelope): string {
  return [
    FORMAT,
    e.keyVersion,
    e.wrappedDek.toString('base64url'),
    e.iv.toString('base64url'),
    e.ciphertext.toString('base64url'),
    e.tag.toString('base64url'),
  ].join('.');
}
