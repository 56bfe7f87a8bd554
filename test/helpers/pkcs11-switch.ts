// The test stacks' master key: a fresh local key (the default), or the PKCS#11 token the environment configures
// when NOON_CONNECT_TEST_PKCS11=1 (with the variables `eval "$(scripts/softhsm-setup.sh <dir>)"` exports), so
// the harness, the crash bench and the connector children run the same suites with the master key in a token.

import { metaOf, type SqlStore, type Store } from '../../src/store/index.js';
import {
  type KeyProvider,
  LocalKeyProvider,
  openPkcs11KeyProvider,
  PKCS11_ENV,
  type Pkcs11EnvConfig,
  parsePkcs11Env,
  type SigningKeyStore,
  Vault,
} from '../../src/vault/index.js';
import { freshPostgres, freshSqlite, type StoreWithVault } from './stores.js';

/** The environment a service configured by the test stacks reads its master key from (the token's variables). */
export function testPkcs11Env(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.values(PKCS11_ENV)) {
    const v = process.env[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** Whether the test stacks keep their master key in the PKCS#11 token of the environment. */
export function testPkcs11(): boolean {
  return process.env.NOON_CONNECT_TEST_PKCS11 === '1';
}

/** The token the environment configures; with the switch on, missing variables are an error, never a skip. */
export function testPkcs11Config(): Pkcs11EnvConfig {
  const config = parsePkcs11Env(process.env);
  if (!config)
    throw new Error(
      'NOON_CONNECT_TEST_PKCS11=1 needs the NOON_CONNECT_PKCS11_ variables: eval "$(scripts/softhsm-setup.sh <dir>)"',
    );
  return config;
}

/**
 * A key provider for a test vault and how to release it: the token (switch on), with its seller signing-key
 * store, or a local one on `masterKey` (no signing-key store).
 */
export async function testKeyProvider(
  masterKey: string,
): Promise<{ provider: KeyProvider; signingKeys: SigningKeyStore | undefined; close(): void }> {
  if (testPkcs11()) {
    const provider = await openPkcs11KeyProvider(testPkcs11Config());
    return { provider, signingKeys: provider.signingKeys(), close: () => provider.close() };
  }
  return {
    provider: new LocalKeyProvider({ current: 'v1', keys: { v1: masterKey } }),
    signingKeys: undefined,
    close: () => {},
  };
}

/**
 * Runs `fn` on a vault over `store` with the test key provider (and the token's signing-key store, with the
 * switch on), then releases the provider.
 */
export async function withTestVault<T>(
  store: Store,
  masterKey: string,
  fn: (vault: Vault, signingKeys: SigningKeyStore | undefined) => Promise<T>,
): Promise<T> {
  const { provider, signingKeys, close } = await testKeyProvider(masterKey);
  try {
    return await fn(await Vault.open({ provider, meta: metaOf(store) }), signingKeys);
  } finally {
    close();
  }
}

/**
 * A fresh store with a vault whose master key is in the token (`masterKey` is empty: there is none in process).
 * `drop` also logs out of the token.
 */
export async function freshStoreWithTokenVault(
  kind: 'sqlite' | 'postgres' = 'sqlite',
): Promise<StoreWithVault> {
  let store: SqlStore;
  let file: string | undefined;
  let schema: string | undefined;
  let dropSchema: () => Promise<void> = async () => {};
  if (kind === 'postgres') ({ store, schema, drop: dropSchema } = await freshPostgres());
  else ({ store, file } = await freshSqlite());
  const { provider, close } = await testKeyProvider('');
  let vault: Vault;
  try {
    vault = await Vault.open({ provider, meta: metaOf(store) });
  } catch (e) {
    close();
    throw e;
  }
  const drop = async () => {
    close();
    await dropSchema();
  };
  return { store, vault, masterKey: '', file, schema, drop };
}
