// From environment variables to an open PKCS#11 key provider, and the same path described check by check for
// `noon-connect doctor` (nothing secret in any line, nothing written to the token).

import { PKCS11_ENV, type Pkcs11EnvConfig, parsePkcs11Env, readPinFile } from '../config.js';
import { VaultError } from '../errors.js';
import type { RandomBytes } from '../provider.js';
import { Pkcs11Error, type Pkcs11Reason } from './errors.js';
import { generatePkcs11MasterKey, Pkcs11KeyProvider } from './provider.js';

/** Reads the PIN file, opens the provider, and wipes the PIN copy it read. */
export async function openPkcs11KeyProvider(
  config: Pkcs11EnvConfig,
  random?: RandomBytes,
): Promise<Pkcs11KeyProvider> {
  if (config.keys === undefined || config.current === undefined)
    throw new VaultError('VAULT_CONFIG', `PKCS#11 configuration: ${PKCS11_ENV.keyLabel} is required`);
  const pin = await readPinFile(config.pinFile);
  try {
    return await Pkcs11KeyProvider.open({
      module: config.module,
      token: config.token,
      pin,
      current: config.current,
      keys: config.keys,
      ...(random ? { random } : {}),
    });
  } finally {
    pin.fill(0);
  }
}

/** The PKCS#11 provider the environment configures, or undefined when no NOON_CONNECT_PKCS11_ variable is set. */
export async function pkcs11KeyProviderFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Promise<Pkcs11KeyProvider | undefined> {
  const config = parsePkcs11Env(env);
  return config === undefined ? undefined : openPkcs11KeyProvider(config);
}

/**
 * `noon-connect vault keygen --pkcs11`: creates an AES-256 key object in the configured token under `label`
 * (default: the current version's label) and returns its label and fingerprint.
 */
export async function generatePkcs11KeyFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  label?: string,
): Promise<{ label: string; fingerprint: string }> {
  const config = parsePkcs11Env(env, { keys: label === undefined });
  if (config === undefined)
    throw new VaultError(
      'VAULT_CONFIG',
      `no PKCS#11 token is configured (set ${PKCS11_ENV.module} and the rest)`,
    );
  const target = label ?? config.keys![config.current!]!;
  const pin = await readPinFile(config.pinFile);
  try {
    const fingerprint = await generatePkcs11MasterKey({
      module: config.module,
      token: config.token,
      pin,
      label: target,
    });
    return { label: target, fingerprint };
  } finally {
    pin.fill(0);
  }
}

/** One line of `doctor`: the same shape as its other checks. */
export interface Pkcs11Check {
  check: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

const HINTS: Record<Pkcs11Reason, string> = {
  BINDING_MISSING: 'install the optional peer: npm install koffi@3',
  MODULE_UNUSABLE: `check ${PKCS11_ENV.module} names the vendor's PKCS#11 library (for SoftHSM2, also SOFTHSM2_CONF)`,
  TOKEN_NOT_FOUND: `check ${PKCS11_ENV.tokenLabel} or ${PKCS11_ENV.slot} (softhsm2-util --show-slots lists them)`,
  TOKEN_REMOVED: 'check that the token is plugged in or the HSM is reachable',
  PIN_INCORRECT: `check that ${PKCS11_ENV.pinFile} holds the token's user PIN (not the SO PIN)`,
  PIN_LOCKED: "the token's security officer must unlock or reset the user PIN",
  KEY_NOT_FOUND: `create it with noon-connect vault keygen --pkcs11, or fix ${PKCS11_ENV.keyLabel}`,
  KEY_EXISTS: 'choose another label',
  KEY_UNSUITABLE:
    'use an AES-256 key that is sensitive and not extractable (noon-connect vault keygen --pkcs11 makes one)',
  OPERATION_REFUSED: 'the token must allow AES-GCM encryption and decryption with the key',
  DEVICE_ERROR: "check the token and its module's logs",
  CLOSED: 'run the check again',
};

function where(config: Pkcs11EnvConfig): string {
  return 'label' in config.token ? `token "${config.token.label}"` : `slot ${config.token.slot}`;
}

/**
 * The PKCS#11 part of `doctor`: an empty list when PKCS#11 is not configured; otherwise one check for the
 * configuration and one for the token (module, login, every key label and its fingerprint). Opens and closes
 * a session; creates nothing. The vault check against the stored key record is the caller's (use
 * `pkcs11KeyProviderFromEnv` for the provider).
 */
export async function describePkcs11(
  env: Readonly<Record<string, string | undefined>>,
): Promise<Pkcs11Check[]> {
  let config: Pkcs11EnvConfig | undefined;
  try {
    config = parsePkcs11Env(env);
  } catch (e) {
    return [{ check: 'pkcs11 config', ok: false, detail: (e as Error).message, hint: 'see docs/vault.md' }];
  }
  if (config === undefined) return [];
  const checks: Pkcs11Check[] = [
    {
      check: 'pkcs11 config',
      ok: true,
      detail:
        `module ${config.module}, ${where(config)}, current version ${config.current}, ` +
        `key labels ${Object.entries(config.keys ?? {})
          .map(([v, l]) => `${v}="${l}"`)
          .join(' ')}, seller keys in token: ${config.sellerKeys ? 'yes' : 'no'}`,
    },
  ];
  let provider: Pkcs11KeyProvider | undefined;
  try {
    provider = await openPkcs11KeyProvider(config);
    const fingerprints = await Promise.all(provider.versions().map((v) => provider!.fingerprint(v)));
    checks.push({
      check: 'pkcs11 token',
      ok: true,
      detail: `logged in to token "${provider.describe().token}"; every key found, AES-256, non-extractable; ${provider
        .versions()
        .map((v, i) => `${v} ${fingerprints[i]}`)
        .join(', ')}`,
    });
  } catch (e) {
    const err = e as VaultError;
    checks.push({
      check: 'pkcs11 token',
      ok: false,
      detail: `${err.message}${err.code ? ` (${err.code})` : ''}`,
      hint: e instanceof Pkcs11Error ? HINTS[e.reason] : `check ${PKCS11_ENV.pinFile}`,
    });
  } finally {
    provider?.close();
  }
  return checks;
}
