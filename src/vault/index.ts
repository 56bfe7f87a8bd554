// Public surface of the vault: envelope encryption, key providers, configuration parsing and key generation.

export { keygen, parseKeyConfig, readKeyConfigFile } from './config.js';
export type { SealContext } from './encoding.js';
export { FORMAT } from './envelope.js';
export type { VaultErrorCode } from './errors.js';
export { VaultError, VaultKeyMismatchError, VaultKeyMissingError } from './errors.js';
export type { VaultMeta } from './keyring.js';
export { KEYRING_META_NAME } from './keyring.js';
export type { KeyProvider, LocalKeyProviderOptions, RandomBytes } from './provider.js';
export { LocalKeyProvider } from './provider.js';
export type { VaultOptions } from './vault.js';
export { Vault } from './vault.js';
