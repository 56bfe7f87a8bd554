// Where the service's master key comes from: a key (NOON_CONNECT_MASTER_KEY), a key file, or a PKCS#11 token
// (the NOON_CONNECT_PKCS11_ variables), exactly one of them, read with the rest of the configuration.

import { PKCS11_ENV, type Pkcs11EnvConfig, readPkcs11Env } from '../vault/index.js';

/** The PKCS#11 variables, with what each is for (printed by `--help` beside the others). */
export const PKCS11_ENV_VARS: readonly [string, string][] = [
  [PKCS11_ENV.module, "path of the token's PKCS#11 library (the master key then lives in the token)"],
  [PKCS11_ENV.tokenLabel, "the token's label (or NOON_CONNECT_PKCS11_SLOT)"],
  [PKCS11_ENV.slot, "the token's slot id (or NOON_CONNECT_PKCS11_TOKEN_LABEL)"],
  [PKCS11_ENV.pinFile, "file holding the token's user PIN"],
  [PKCS11_ENV.keyLabel, 'master key label, or JSON {"current","keys"} of version → label'],
  [PKCS11_ENV.sellerKeys, "true: keep sellers' private keys in the token too (default false)"],
];

export interface MasterKeySource {
  masterKey: string | undefined;
  masterKeyFile: string | undefined;
  /** The token holding the master key, when the NOON_CONNECT_PKCS11_ variables are set. */
  pkcs11: Pkcs11EnvConfig | undefined;
}

/**
 * Reads the master key's source, adding a problem to `problems` (naming variables, never values) when none or
 * more than one is set, or when the PKCS#11 settings are incomplete.
 */
export function readMasterKeySource(
  env: Readonly<Record<string, string | undefined>>,
  defaults: Partial<MasterKeySource>,
  problems: string[],
): MasterKeySource {
  const get = (k: string): string | undefined => {
    const v = env[k];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const masterKey = get('NOON_CONNECT_MASTER_KEY') ?? defaults.masterKey;
  const masterKeyFile = get('NOON_CONNECT_MASTER_KEY_FILE') ?? defaults.masterKeyFile;
  const token = readPkcs11Env(env);
  problems.push(...token.problems);
  const pkcs11 = token.config ?? (token.configured ? undefined : defaults.pkcs11);
  const inToken = token.configured || pkcs11 !== undefined;
  if (!masterKey && !masterKeyFile && !inToken)
    // (or a PKCS#11 token: `--help` and docs/vault.md list its variables)
    problems.push('a master key is required: NOON_CONNECT_MASTER_KEY or NOON_CONNECT_MASTER_KEY_FILE');
  if (masterKey && masterKeyFile)
    problems.push('set only one of NOON_CONNECT_MASTER_KEY and NOON_CONNECT_MASTER_KEY_FILE');
  if (inToken && (masterKey || masterKeyFile))
    problems.push(
      'set either the NOON_CONNECT_PKCS11_ variables or NOON_CONNECT_MASTER_KEY / NOON_CONNECT_MASTER_KEY_FILE, not both',
    );
  return { masterKey, masterKeyFile, pkcs11 };
}
