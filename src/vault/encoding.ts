// Byte-level encodings the vault relies on: canonical base64url and the unambiguous AAD layout.

import { usageError } from './errors.js';

/** What a sealed value is bound to: reading it back needs the same four fields. */
export interface SealContext {
  /** The integrator's tenant that owns the connection. */
  readonly tenant: string;
  /** The seller's Noon project code. */
  readonly project: string;
  /** The credential (connection attempt, key id, ...) the secret belongs to. */
  readonly credentialId: string;
  /** What the secret is, e.g. `seller-private-key`, `exchange-body`, `access-token`. */
  readonly purpose: string;
}

/** Key version names: short, and without `.` so they can sit inside the dotted sealed format. */
const VERSION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function isVersionName(value: unknown): value is string {
  return typeof value === 'string' && VERSION_NAME.test(value);
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes base64url, accepting only the one canonical spelling of each byte string (no padding, no stray
 * characters, no non-zero trailing bits). Node's decoder silently skips bad characters, which would let two
 * different strings name the same bytes; returns undefined instead.
 */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/**
 * Decodes a master key written as standard base64 (with its padding) or as base64url (without), only in
 * canonical form; undefined otherwise.
 */
export function decodeKeyText(text: string): Buffer | undefined {
  if (/^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0) {
    const bytes = Buffer.from(text, 'base64');
    return bytes.toString('base64') === text ? bytes : undefined;
  }
  return decodeBase64url(text);
}

/** The fields of a SealContext in their fixed order. */
const CONTEXT_FIELDS = ['tenant', 'project', 'credentialId', 'purpose'] as const;

/** Checks a caller's context: four non-empty, well-formed strings. */
export function checkContext(context: SealContext): void {
  if (typeof context !== 'object' || context === null) throw usageError('vault context must be an object');
  for (const field of CONTEXT_FIELDS) {
    const value: unknown = context[field];
    if (typeof value !== 'string' || value.length === 0)
      throw usageError(`vault context field "${field}" must be a non-empty string`);
    // A lone surrogate encodes to U+FFFD in UTF-8, so two different strings would give the same AAD.
    if (Buffer.from(value, 'utf8').toString('utf8') !== value)
      throw usageError(`vault context field "${field}" is not well-formed Unicode`);
  }
}

/**
 * The AAD for one use of the context: a domain label, then each field as a 4-byte big-endian length and its
 * UTF-8 bytes, in a fixed order. Length prefixes make it unambiguous (`a`+`bc` never equals `ab`+`c`); the
 * label keeps the payload's AAD and the data key's AAD from ever being the same bytes.
 */
export function encodeAad(label: string, context: SealContext, extra: readonly string[] = []): Buffer {
  const parts = [label, ...CONTEXT_FIELDS.map((f) => context[f]), ...extra].map((s) =>
    Buffer.from(s, 'utf8'),
  );
  const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    at = out.writeUInt32BE(p.length, at);
    at += p.copy(out, at);
  }
  return out;
}
