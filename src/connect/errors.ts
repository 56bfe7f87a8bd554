// The connector's errors and codes: one class with stable codes for what a caller handles, the shared coded
// TypeError for misuse, and the closed set of codes an attempt can end with. Messages never carry a secret value.

import { NoonError, type NoonErrorCode } from '../client/index.js';
import { UsageError } from '../usage-error.js';
import { VaultError, type VaultErrorCode } from '../vault/index.js';

/** Stable codes of {@link ConnectError}; decide on these, never on message text. */
export type ConnectErrorCode =
  /** A request input the caller passed on is not acceptable: a bad tenant (the HTTP layer answers 400). */
  | 'INVALID_ARGUMENT'
  /** A return path that is not relative or not allow-listed (C7). */
  | 'RETURN_PATH_REFUSED'
  | 'CONNECTION_NOT_FOUND'
  | 'CONNECTION_INACTIVE'
  /** The seller's service account already holds 5 keys (NC4, NC33). */
  | 'KEY_LIMIT'
  /** The store, vault or Noon failed in a way the caller cannot fix. */
  | 'UNAVAILABLE'
  /** Start-up refused: configuration problems. */
  | 'CONFIG';

/** A failure of a connector call that the caller handles by its `code`. */
export class ConnectError extends Error {
  readonly code: ConnectErrorCode;

  constructor(code: ConnectErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectError';
    this.code = code;
  }
}

/** Misuse of the connector's API (a bad option): the shared coded TypeError with the connector's code. */
export function usageError(message: string): UsageError {
  return new UsageError('ERR_CONNECT_INVALID_ARGUMENT', message);
}

/**
 * Why an attempt ended or was flagged: its stored `errorCode`, the `error_code` of its event. A closed set, so
 * dashboards, metrics and alerts can count on it; what varies (an HTTP status, Noon's workflow status, the cause
 * of a failed login) goes to the attempt's `errorDetail`.
 */
export type AttemptErrorCode =
  /** Noon's answers and transport outcomes, as the client names them. */
  | NoonErrorCode
  /** The vault could not open what the attempt stored. */
  | VaultErrorCode
  /** The seller said no on the consent page (C1). */
  | 'ACCESS_DENIED'
  /** Noon sent the seller back with another `error` (C1). */
  | 'AUTHORIZE_ERROR'
  /** The callback named neither a code nor an error. */
  | 'NO_CODE'
  /** A state issued for another environment (S9). */
  | 'WRONG_ENVIRONMENT'
  /** A real state from another browser; it is burned (S3). */
  | 'BINDING_MISMATCH'
  /** The connect link expired before its callback. */
  | 'STATE_EXPIRED'
  /** The process stopped mid-way; found and ended by the reconciler (P2b, P3). */
  | 'INTERRUPTED'
  /** A reconnect of a known connection came back with another seller project. */
  | 'DIFFERENT_PROJECT'
  /** Another attempt connected the seller moments ago; this one did not exchange. */
  | 'ALREADY_CONNECTED'
  /** The key came back but could not be committed (P5): it may exist upstream without a copy. */
  | 'STORE_FAILED'
  /** Logging in as the seller with the new key failed; the cause's code is in `errorDetail`. */
  | 'LOGIN_FAILED'
  /** A key-creating call answered a status with no more specific code (a 2xx other than 200); see `errorDetail`. */
  | 'HTTP_STATUS'
  /** Anything else (a bug); the log line of the step carries what is known. */
  | 'INTERNAL';

/** The attempt error code an error stands for. */
export function attemptErrorCode(e: unknown): AttemptErrorCode {
  if (e instanceof NoonError || e instanceof VaultError) return e.code;
  return 'INTERNAL';
}

/** The code to log for an error: also a driver's own (e.g. `SQLITE_FULL`), which tells an operator more. */
export function logCode(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return 'INTERNAL';
}

/** The Noon request id of an error, for a log line. */
export function requestIdOf(e: unknown): { requestId?: string } {
  return e instanceof NoonError && e.requestId ? { requestId: e.requestId } : {};
}
