// Reading master key configuration handed in by the caller (an env-var value or a file), and making new keys.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { decodeKeyText, isVersionName } from './encoding.js';
import { VaultError } from './errors.js';
import type { LocalKeyProviderOptions, RandomBytes } from './provider.js';

export const MASTER_KEY_BYTES = 32;
/** The version name a single bare key gets. */
export const DEFAULT_VERSION = 'v1';

function configError(message: string): VaultError {
  return new VaultError('VAULT_CONFIG', message);
}

/** A fresh master key: 32 random bytes as standard base64 (what `noon-connect vault keygen` prints). */
export function keygen(random: RandomBytes = randomBytes): string {
  const key = random(MASTER_KEY_BYTES);
  if (key.length !== MASTER_KEY_BYTES)
    throw configError('the random source returned the wrong number of bytes');
  const text = key.toString('base64');
  key.fill(0);
  return text;
}

/**
 * Checks and decodes master keys: every version name valid, every key base64 of exactly 32 bytes, no key
 * configured twice, and the current version among them. Messages name versions, never key material.
 */
export function decodeMasterKeys(options: LocalKeyProviderOptions): Map<string, Buffer> {
  if (typeof options !== 'object' || options === null) throw configError('vault key options are missing');
  const { current, keys } = options;
  if (typeof keys !== 'object' || keys === null) throw configError('no vault master key is configured');
  const names = Object.keys(keys);
  if (names.length === 0) throw configError('no vault master key is configured');
  const masters = new Map<string, Buffer>();
  try {
    for (const name of names) {
      if (!isVersionName(name))
        throw configError('vault key version names must be 1-64 characters of A-Z, a-z, 0-9, "_" or "-"');
      const raw: unknown = keys[name];
      let master: Buffer | undefined;
      if (typeof raw === 'string') {
        if (raw.trim() === '') throw configError(`vault master key "${name}" is empty`);
        master = decodeKeyText(raw.trim());
        if (master === undefined) throw configError(`vault master key "${name}" is not base64`);
      } else if (raw instanceof Uint8Array) {
        master = Buffer.from(raw);
      } else {
        throw configError(`vault master key "${name}" must be a base64 string`);
      }
      if (master.length !== MASTER_KEY_BYTES) {
        const length = master.length;
        master.fill(0);
        throw configError(
          `vault master key "${name}" decodes to ${length} bytes; it must be exactly ${MASTER_KEY_BYTES}`,
        );
      }
      for (const [other, seen] of masters)
        if (timingSafeEqual(seen, master)) {
          master.fill(0);
          // The same key under two names is a rotation that rotated nothing.
          throw configError(`vault master keys "${other}" and "${name}" are the same key`);
        }
      masters.set(name, master);
    }
    if (current === undefined || current === '')
      throw configError('the current vault key version is not set');
    if (typeof current !== 'string' || !masters.has(current))
      throw configError('the current vault key version is not one of the configured versions');
    return masters;
  } catch (err) {
    for (const m of masters.values()) m.fill(0);
    throw err;
  }
}

/**
 * Parses master key configuration from text, e.g. an env-var value the caller read. Two forms:
 * - one bare base64 key: a single version named `v1`;
 * - JSON `{ "current": "v2", "keys": { "v1": "<base64>", "v2": "<base64>" } }`.
 * The result is fully checked (see `decodeMasterKeys`).
 */
export function parseKeyConfig(text: string | undefined): LocalKeyProviderOptions {
  if (text === undefined || text.trim() === '') throw configError('no vault master key is configured');
  const trimmed = text.trim();
  let options: LocalKeyProviderOptions;
  if (trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch {
      // JSON.parse's own message quotes the input, which holds keys: never pass it on.
      throw configError('vault key configuration is not valid JSON');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw configError('vault key configuration must be a JSON object');
    const record = json as Record<string, unknown>;
    if (Object.keys(record).some((k) => k !== 'current' && k !== 'keys'))
      throw configError('vault key configuration may only have the properties "current" and "keys"');
    const { current, keys } = record;
    if (current === undefined) throw configError('the current vault key version is not set');
    if (typeof current !== 'string')
      throw configError('"current" in the vault key configuration must be a string');
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys))
      throw configError('"keys" in the vault key configuration must be an object of version → base64 key');
    options = { current, keys: keys as Record<string, string> };
  } else {
    options = { current: DEFAULT_VERSION, keys: { [DEFAULT_VERSION]: trimmed } };
  }
  for (const m of decodeMasterKeys(options).values()) m.fill(0);
  return options;
}

/** Reads master key configuration from a file holding either form `parseKeyConfig` accepts. */
export async function readKeyConfigFile(path: string): Promise<LocalKeyProviderOptions> {
  if (typeof path !== 'string' || path === '') throw configError('no vault key file path is given');
  // A key passed where a path belongs would otherwise end up quoted in the error message below.
  if (decodeKeyText(path.trim())?.length === MASTER_KEY_BYTES)
    throw configError('the vault key file path looks like a key itself; pass the key as a value instead');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw configError(`vault key file ${path} does not exist`);
    if (code === 'EACCES') throw configError(`vault key file ${path} is not readable`);
    throw configError(`vault key file ${path} could not be read (${code ?? 'unknown error'})`);
  }
  try {
    return parseKeyConfig(text);
  } catch (err) {
    if (err instanceof VaultError) throw configError(`vault key file ${path}: ${err.message}`);
    throw err;
  }
}
