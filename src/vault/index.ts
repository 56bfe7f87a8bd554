// Public surface of the vault: envelope encryption, key providers, configuration parsing and key generation.

export type { Pkcs11EnvConfig } from './config.js';
export {
  keygen,
  PKCS11_ENV,
  parseKeyConfig,
  parsePkcs11Env,
  readKeyConfigFile,
  readPinFile,
  readPkcs11Env,
} from './config.js';
export type { SealContext } from './encoding.js';
export { FORMAT } from './envelope.js';
export type { VaultErrorCode } from './errors.js';
export { VaultError, VaultKeyMismatchError, VaultKeyMissingError } from './errors.js';
export type { VaultMeta } from './keyring.js';
export { KEYRING_META_NAME } from './keyring.js';
export type { Pkcs11Check } from './pkcs11/env.js';
export {
  describePkcs11,
  generatePkcs11KeyFromEnv,
  openPkcs11KeyProvider,
  pkcs11KeyProviderFromEnv,
} from './pkcs11/env.js';
export type { Pkcs11Reason } from './pkcs11/errors.js';
export { Pkcs11Error } from './pkcs11/errors.js';
export type { Pkcs11KeyProviderOptions } from './pkcs11/provider.js';
export { generatePkcs11MasterKey, Pkcs11KeyProvider } from './pkcs11/provider.js';
export type { Pkcs11SigningKeys } from './pkcs11/signing.js';
export type { TokenOptions, TokenSelector } from './pkcs11/token.js';
export type { KeyProvider, LocalKeyProviderOptions, RandomBytes, SigningKeyStore } from './provider.js';
export { LocalKeyProvider } from './provider.js';
export type { VaultOptions } from './vault.js';
export { Vault } from './vault.js';
