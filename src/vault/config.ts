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
 * Parses `{ "current": "v2", "keys": { "v1": …, "v2": … } }` (what the JSON forms of both key configurations
 * look like), checking only its shape: the caller checks the values. `what` names the setting in messages.
 */
function parseVersionedJson(
  text: string,
  what: string,
  valueName: string,
): { current: string; keys: object } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the input, which may hold keys: never pass it on.
    throw configError(`${what} is not valid JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw configError(`${what} must be a JSON object`);
  const record = json as Record<string, unknown>;
  if (Object.keys(record).some((k) => k !== 'current' && k !== 'keys'))
    throw configError(`${what} may only have the properties "current" and "keys"`);
  const { current, keys } = record;
  if (current === undefined) throw configError('the current vault key version is not set');
  if (typeof current !== 'string') throw configError(`"current" in the ${what} must be a string`);
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys))
    throw configError(`"keys" in the ${what} must be an object of version → ${valueName}`);
  return { current, keys };
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
  const options: LocalKeyProviderOptions = trimmed.startsWith('{')
    ? (parseVersionedJson(trimmed, 'vault key configuration', 'base64 key') as LocalKeyProviderOptions)
    : { current: DEFAULT_VERSION, keys: { [DEFAULT_VERSION]: trimmed } };
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

/** The environment variables that configure a PKCS#11 token as the master key's home. */
export const PKCS11_ENV = {
  module: 'NOON_CONNECT_PKCS11_MODULE',
  tokenLabel: 'NOON_CONNECT_PKCS11_TOKEN_LABEL',
  slot: 'NOON_CONNECT_PKCS11_SLOT',
  pinFile: 'NOON_CONNECT_PKCS11_PIN_FILE',
  keyLabel: 'NOON_CONNECT_PKCS11_KEY_LABEL',
  sellerKeys: 'NOON_CONNECT_PKCS11_SELLER_KEYS',
} as const;

/** PKCS#11 configuration read from the environment; the PIN stays in its file until `readPinFile`. */
export interface Pkcs11EnvConfig {
  /** Path of the vendor's PKCS#11 module (shared library). */
  readonly module: string;
  readonly token: { readonly label: string } | { readonly slot: number };
  readonly pinFile: string;
  /** Version → key label; undefined only when parsed with `keys: false` and no label was set. */
  readonly current: string | undefined;
  readonly keys: Readonly<Record<string, string>> | undefined;
  /** Whether sellers' private keys are moved into the token too (opt-in). */
  readonly sellerKeys: boolean;
}

/**
 * Checks version → key label pairs: valid version names, non-empty labels, no label under two versions, and the
 * current version among them.
 */
export function checkKeyLabels(current: unknown, keys: unknown): Map<string, string> {
  if (typeof keys !== 'object' || keys === null || Object.keys(keys).length === 0)
    throw configError('no PKCS#11 master key label is configured');
  const labels = new Map<string, string>();
  const versionOf = new Map<string, string>();
  for (const [version, label] of Object.entries(keys)) {
    if (!isVersionName(version))
      throw configError('vault key version names must be 1-64 characters of A-Z, a-z, 0-9, "_" or "-"');
    if (typeof label !== 'string' || label.trim() === '')
      throw configError(`the PKCS#11 key label of version "${version}" must be a non-empty string`);
    const other = versionOf.get(label);
    // One key object under two versions is a rotation that rotated nothing.
    if (other !== undefined)
      throw configError(`vault key versions "${other}" and "${version}" name the same key label`);
    versionOf.set(label, version);
    labels.set(version, label);
  }
  if (current === undefined || current === '') throw configError('the current vault key version is not set');
  if (typeof current !== 'string' || !labels.has(current))
    throw configError('the current vault key version is not one of the configured versions');
  return labels;
}

/**
 * Reads the PKCS#11 settings from an environment (the caller passes it: the library reads no variables itself).
 * Undefined when none of them is set. Every problem is listed in one VAULT_CONFIG error. `keys: false` lets the
 * key label be absent (for `vault keygen --pkcs11 --label …`).
 *
 * - NOON_CONNECT_PKCS11_MODULE: path of the module (e.g. /usr/lib/softhsm/libsofthsm2.so);
 * - NOON_CONNECT_PKCS11_TOKEN_LABEL or NOON_CONNECT_PKCS11_SLOT: which token (one of the two);
 * - NOON_CONNECT_PKCS11_PIN_FILE: a file holding the user PIN (a trailing newline is ignored);
 * - NOON_CONNECT_PKCS11_KEY_LABEL: one label (version v1), or `{"current":"v2","keys":{"v1":"…","v2":"…"}}`;
 * - NOON_CONNECT_PKCS11_SELLER_KEYS: `true` to keep sellers' private keys in the token too (default false).
 */
export function parsePkcs11Env(
  env: Readonly<Record<string, string | undefined>>,
  options: { keys?: boolean } = {},
): Pkcs11EnvConfig | undefined {
  const { config, problems } = readPkcs11Env(env, options);
  if (problems.length > 0) throw configError(`PKCS#11 configuration: ${problems.join('; ')}`);
  return config;
}

/**
 * `parsePkcs11Env` without throwing: `configured` says whether any NOON_CONNECT_PKCS11_ variable is set,
 * `problems` lists what is wrong (each naming its variable, never a value), and `config` is set only when there
 * is none. For a caller that collects the problems of a whole configuration at once.
 */
export function readPkcs11Env(
  env: Readonly<Record<string, string | undefined>>,
  options: { keys?: boolean } = {},
): { configured: boolean; config: Pkcs11EnvConfig | undefined; problems: string[] } {
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v === '' ? undefined : v;
  };
  const names = Object.values(PKCS11_ENV);
  const problems: string[] = [];
  if (names.every((n) => get(n) === undefined)) return { configured: false, config: undefined, problems };
  const module = get(PKCS11_ENV.module);
  if (module === undefined)
    problems.push(`${PKCS11_ENV.module} is required when any NOON_CONNECT_PKCS11_ variable is set`);
  const tokenLabel = get(PKCS11_ENV.tokenLabel);
  const slotText = get(PKCS11_ENV.slot);
  let token: Pkcs11EnvConfig['token'] | undefined;
  if (tokenLabel !== undefined && slotText !== undefined)
    problems.push(`set only one of ${PKCS11_ENV.tokenLabel} and ${PKCS11_ENV.slot}`);
  else if (tokenLabel !== undefined) token = { label: tokenLabel };
  else if (slotText !== undefined) {
    if (/^\d{1,15}$/.test(slotText)) token = { slot: Number(slotText) };
    else problems.push(`${PKCS11_ENV.slot} must be a slot id (a whole number)`);
  } else problems.push(`${PKCS11_ENV.tokenLabel} or ${PKCS11_ENV.slot} is required`);
  const pinFile = get(PKCS11_ENV.pinFile);
  if (pinFile === undefined) problems.push(`${PKCS11_ENV.pinFile} is required (a file holding the user PIN)`);
  let current: string | undefined;
  let keys: Record<string, string> | undefined;
  const keyLabel = get(PKCS11_ENV.keyLabel);
  if (keyLabel === undefined) {
    if (options.keys !== false) problems.push(`${PKCS11_ENV.keyLabel} is required`);
  } else {
    try {
      const parsed = keyLabel.startsWith('{')
        ? parseVersionedJson(keyLabel, PKCS11_ENV.keyLabel, 'key label')
        : { current: DEFAULT_VERSION, keys: { [DEFAULT_VERSION]: keyLabel } };
      checkKeyLabels(parsed.current, parsed.keys);
      current = parsed.current;
      keys = { ...(parsed.keys as Record<string, string>) };
    } catch (e) {
      problems.push(`${PKCS11_ENV.keyLabel}: ${(e as Error).message}`);
    }
  }
  const sellerText = get(PKCS11_ENV.sellerKeys)?.toLowerCase();
  let sellerKeys = false;
  if (sellerText !== undefined) {
    if (['1', 'true', 'yes', 'on'].includes(sellerText)) sellerKeys = true;
    else if (!['0', 'false', 'no', 'off'].includes(sellerText))
      problems.push(`${PKCS11_ENV.sellerKeys} must be true or false`);
  }
  if (problems.length > 0) return { configured: true, config: undefined, problems };
  return {
    configured: true,
    config: Object.freeze({ module: module!, token: token!, pinFile: pinFile!, current, keys, sellerKeys }),
    problems,
  };
}

/**
 * Reads the user PIN from its file. The path is never quoted in a message: a PIN set where the path belongs
 * would otherwise be printed.
 */
export async function readPinFile(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw configError(
      code === 'ENOENT'
        ? `the PKCS#11 PIN file (${PKCS11_ENV.pinFile}) does not exist`
        : `the PKCS#11 PIN file (${PKCS11_ENV.pinFile}) could not be read (${code ?? 'unknown error'})`,
    );
  }
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  const pin = Buffer.from(bytes.subarray(0, end));
  bytes.fill(0);
  if (pin.length === 0) throw configError(`the PKCS#11 PIN file (${PKCS11_ENV.pinFile}) is empty`);
  return pin;
}
