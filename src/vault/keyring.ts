// The start-up check: which master key versions this deployment has used, and their fingerprints.

import { timingSafeEqual } from 'node:crypto';
import { isVersionName } from './encoding.js';
import { VaultError, VaultKeyMismatchError, VaultKeyMissingError } from './errors.js';

/**
 * The minimal metadata store the vault needs: a durable name → value map (a store implements it with one
 * table). `set` should replace the value atomically.
 */
export interface VaultMeta {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  /**
   * Optional: stores `value` only when `name` has none, and returns the value now stored. When present it is
   * used on first start, so instances booting together cannot record different keys for one version.
   */
  setIfAbsent?(name: string, value: string): Promise<string>;
}

/** The one metadata entry the vault owns. */
export const KEYRING_META_NAME = 'vault.keyring';

/**
 * What the metadata entry holds: for every version ever configured, its key fingerprint. `active` versions
 * may have sealed data and must stay configured; `retired` ones were released by `Vault.retire` and may be
 * dropped from the configuration, but their names are never reused for other key material.
 */
export interface Keyring {
  readonly format: 1;
  readonly active: Readonly<Record<string, string>>;
  readonly retired: Readonly<Record<string, string>>;
}

export const EMPTY_KEYRING: Keyring = { format: 1, active: {}, retired: {} };

function unreadable(): VaultError {
  return new VaultError('VAULT_CONFIG', `the vault's key record ("${KEYRING_META_NAME}") is unreadable`);
}

function fingerprintMap(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw unreadable();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!isVersionName(k) || typeof v !== 'string' || v === '') throw unreadable();
    out[k] = v;
  }
  return out;
}

/** Parses the stored keyring; absent means a first start. Anything unexpected refuses start-up. */
export function parseKeyring(raw: string | undefined): Keyring {
  if (raw === undefined) return EMPTY_KEYRING;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw unreadable();
  }
  if (typeof json !== 'object' || json === null) throw unreadable();
  const { format, active, retired } = json as Record<string, unknown>;
  if (format !== 1) throw unreadable();
  const keyring: Keyring = { format: 1, active: fingerprintMap(active), retired: fingerprintMap(retired) };
  if (Object.keys(keyring.active).some((v) => Object.hasOwn(keyring.retired, v))) throw unreadable();
  return keyring;
}

/** Sorted keys, so equal keyrings serialise to equal text and a read-back can be compared. */
export function serializeKeyring(k: Keyring): string {
  const sorted = (m: Readonly<Record<string, string>>) =>
    Object.fromEntries(
      Object.keys(m)
        .sort()
        .map((v) => [v, m[v]!]),
    );
  return JSON.stringify({ format: 1, active: sorted(k.active), retired: sorted(k.retired) });
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function mismatch(version: string): VaultKeyMismatchError {
  return new VaultKeyMismatchError(
    version,
    `vault master key "${version}" is not the key recorded for that version; refusing to start`,
  );
}

/**
 * Checks the configured versions against the stored keyring and returns the keyring to store, or undefined
 * when nothing changes. Throws, without any side effect, when:
 * - a configured version's fingerprint differs from the recorded one (active or retired) → VAULT_KEY_MISMATCH;
 * - the current version was retired → VAULT_CONFIG (a retired name is never used for sealing again);
 * - an active version is not configured → VAULT_KEY_MISSING (it may have sealed data).
 */
export function reconcileKeyring(
  stored: Keyring,
  configured: ReadonlyMap<string, string>,
  current: string,
): Keyring | undefined {
  const added: Record<string, string> = {};
  for (const [version, fingerprint] of configured) {
    const recorded = stored.active[version] ?? stored.retired[version];
    if (recorded === undefined) added[version] = fingerprint;
    else if (!same(recorded, fingerprint)) throw mismatch(version);
  }
  if (Object.hasOwn(stored.retired, current))
    throw new VaultError(
      'VAULT_CONFIG',
      `vault key version "${current}" was retired and cannot be current again; add a key under a new version name`,
    );
  const missing = Object.keys(stored.active).filter((v) => !configured.has(v));
  if (missing.length > 0)
    throw new VaultKeyMissingError(
      missing[0]!,
      `vault key version${missing.length > 1 ? 's' : ''} ${missing.map((v) => `"${v}"`).join(', ')} ` +
        `may have sealed data but ${missing.length > 1 ? 'are' : 'is'} not configured; refusing to start ` +
        '(retire a version only after re-wrapping everything it sealed)',
    );
  if (Object.keys(added).length === 0) return undefined;
  return { format: 1, active: { ...stored.active, ...added }, retired: stored.retired };
}
