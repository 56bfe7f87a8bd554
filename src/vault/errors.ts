// Errors the vault raises: one base class with a stable code, so callers branch on `code`, never on text.

import { UsageError } from '../usage-error.js';

/** Every code a `VaultError` can carry. */
export type VaultErrorCode =
  | 'VAULT_FORMAT'
  | 'VAULT_DECRYPT_FAILED'
  | 'VAULT_KEY_MISMATCH'
  | 'VAULT_KEY_MISSING'
  | 'VAULT_CONFIG'
  | 'VAULT_HSM';

/**
 * Base of every error the vault raises. Messages name versions, parts and field names only: never plaintext,
 * master keys, data keys or any part of a sealed value, so they are safe to log.
 */
export class VaultError extends Error {
  readonly code: VaultErrorCode;

  constructor(code: VaultErrorCode, message: string) {
    super(message);
    this.name = 'VaultError';
    this.code = code;
  }
}

/** A configured master key version no longer matches the fingerprint recorded when it was first used. */
export class VaultKeyMismatchError extends VaultError {
  readonly version: string;

  constructor(version: string, message: string) {
    super('VAULT_KEY_MISMATCH', message);
    this.name = 'VaultKeyMismatchError';
    this.version = version;
  }
}

/** A master key version that may have sealed data is not configured. */
export class VaultKeyMissingError extends VaultError {
  readonly version: string;

  constructor(version: string, message: string) {
    super('VAULT_KEY_MISSING', message);
    this.name = 'VaultKeyMissingError';
    this.version = version;
  }
}

/** Misuse of the vault's API: the shared coded TypeError (see src/usage-error.ts) with the vault's code. */
export function usageError(message: string): UsageError {
  return new UsageError('ERR_VAULT_INVALID_ARGUMENT', message);
}
