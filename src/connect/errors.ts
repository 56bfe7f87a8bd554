// The connector's errors: one class with stable codes; messages never carry a secret value.

export type ConnectErrorCode =
  /** Misuse of the API: a bad tenant, return path or option. */
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

export class ConnectError extends Error {
  readonly code: ConnectErrorCode;

  constructor(code: ConnectErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectError';
    this.code = code;
  }
}
