// The error a PKCS#11 token problem raises: a VaultError with code VAULT_HSM and a stable `reason` to branch on.

import { VaultError } from '../errors.js';
import { CkError } from './binding.js';
import { CKR, rvName } from './constants.js';

/**
 * Why a token operation failed:
 * - `BINDING_MISSING`: the optional `koffi` package is not installed;
 * - `MODULE_UNUSABLE`: the PKCS#11 module does not load or does not initialise;
 * - `TOKEN_NOT_FOUND`: no token with the configured label (or in the configured slot);
 * - `TOKEN_REMOVED`: the token went away while in use and could not be reached again;
 * - `PIN_INCORRECT`, `PIN_LOCKED`: the login was refused;
 * - `KEY_NOT_FOUND`: no key object with a configured label; `KEY_EXISTS`: one already has the label;
 * - `KEY_UNSUITABLE`: the key object is not a sensitive, non-extractable AES-256 key allowed to encrypt and
 *   decrypt (or, for a signing key, an RSA key allowed to sign);
 * - `OPERATION_REFUSED`: the token refuses the mechanism or the use of the key;
 * - `DEVICE_ERROR`: any other failure reported by the module;
 * - `CLOSED`: the provider was closed.
 */
export type Pkcs11Reason =
  | 'BINDING_MISSING'
  | 'MODULE_UNUSABLE'
  | 'TOKEN_NOT_FOUND'
  | 'TOKEN_REMOVED'
  | 'PIN_INCORRECT'
  | 'PIN_LOCKED'
  | 'KEY_NOT_FOUND'
  | 'KEY_EXISTS'
  | 'KEY_UNSUITABLE'
  | 'OPERATION_REFUSED'
  | 'DEVICE_ERROR'
  | 'CLOSED';

/**
 * A token problem. The vault's data is never at stake: a failed wrap seals nothing, a failed unwrap changes
 * nothing, so the operation can be retried once the token is back. Messages name labels, slots, functions and
 * CKR_ names; never a PIN or key material.
 */
export class Pkcs11Error extends VaultError {
  readonly reason: Pkcs11Reason;
  /** The Cryptoki return value behind it (`CKR_PIN_INCORRECT`), when a call failed. */
  readonly rv: string | undefined;

  constructor(reason: Pkcs11Reason, message: string, rv?: number) {
    super('VAULT_HSM', rv === undefined ? `PKCS#11: ${message}` : `PKCS#11: ${message} (${rvName(rv)})`);
    this.name = 'Pkcs11Error';
    this.reason = reason;
    this.rv = rv === undefined ? undefined : rvName(rv);
  }
}

/** Return values that mean the session, the login or the token itself is gone: worth reconnecting once. */
export const LOST: ReadonlySet<number> = new Set([
  CKR.SESSION_HANDLE_INVALID,
  CKR.SESSION_CLOSED,
  CKR.DEVICE_REMOVED,
  CKR.TOKEN_NOT_PRESENT,
  CKR.TOKEN_NOT_RECOGNIZED,
  CKR.USER_NOT_LOGGED_IN,
  CKR.CRYPTOKI_NOT_INITIALIZED,
  CKR.OPERATION_ACTIVE,
  CKR.SLOT_ID_INVALID,
]);

/** Return values by which a token refuses a mechanism or a use of a key. */
const REFUSED: ReadonlySet<number> = new Set([
  CKR.KEY_FUNCTION_NOT_PERMITTED,
  CKR.KEY_TYPE_INCONSISTENT,
  CKR.MECHANISM_INVALID,
  CKR.MECHANISM_PARAM_INVALID,
  CKR.FUNCTION_NOT_SUPPORTED,
  CKR.ATTRIBUTE_VALUE_INVALID,
  CKR.ATTRIBUTE_TYPE_INVALID,
  CKR.ATTRIBUTE_READ_ONLY,
  CKR.TEMPLATE_INCOMPLETE,
  CKR.TEMPLATE_INCONSISTENT,
  CKR.KEY_SIZE_RANGE,
  CKR.TOKEN_WRITE_PROTECTED,
  CKR.SESSION_READ_ONLY,
]);

/** Maps a failed call to a coded error; `what` says what was being done, e.g. `wrapping with "noon-master-v1"`. */
export function tokenError(e: unknown, what: string): Error {
  if (e instanceof Pkcs11Error || !(e instanceof CkError)) return e as Error;
  const rv = e.rv;
  if (rv === CKR.PIN_INCORRECT || rv === CKR.PIN_INVALID || rv === CKR.PIN_LEN_RANGE)
    return new Pkcs11Error('PIN_INCORRECT', `${what}: the token refused the PIN`, rv);
  if (rv === CKR.PIN_LOCKED || rv === CKR.PIN_EXPIRED)
    return new Pkcs11Error('PIN_LOCKED', `${what}: the token's user PIN is locked or expired`, rv);
  if (LOST.has(rv)) return new Pkcs11Error('TOKEN_REMOVED', `${what}: the token is not reachable`, rv);
  if (REFUSED.has(rv)) return new Pkcs11Error('OPERATION_REFUSED', `${what}: the token refused it`, rv);
  if (rv === CKR.KEY_HANDLE_INVALID || rv === CKR.OBJECT_HANDLE_INVALID)
    return new Pkcs11Error('KEY_NOT_FOUND', `${what}: the key object is gone`, rv);
  return new Pkcs11Error('DEVICE_ERROR', `${what}: ${e.fn} failed`, rv);
}
