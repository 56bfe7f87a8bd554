// Misuse of the library's API (a missing option, an argument of the wrong type or shape): one TypeError with a
// stable `code`, shared by the vault, the store and the connector, so a caller tells misuse from a failure the
// same way everywhere. The client and the sandbox keep their own: each imports nothing else from src/.

/** Which part of the API was misused. Stable: branch on it, never on the message. */
export type UsageErrorCode =
  | 'ERR_VAULT_INVALID_ARGUMENT'
  | 'ERR_STORE_INVALID_ARGUMENT'
  | 'ERR_CONNECT_INVALID_ARGUMENT';

/**
 * A programming error on the caller's side, raised before anything is read, written or sent. Its `name` stays
 * `TypeError`, as the platform's own coded errors do (`TypeError [ERR_INVALID_ARG_TYPE]`). Messages name the
 * option or field, never its value.
 */
export class UsageError extends TypeError {
  readonly code: UsageErrorCode;

  constructor(code: UsageErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
