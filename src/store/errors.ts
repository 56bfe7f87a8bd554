// The store's errors: one class with stable codes; the message is one line that names the cause (the driver's
// own words, such as `database "x" does not exist` or SQLite's message), never a password.

export type StoreErrorCode =
  /** The database driver this store needs is not installed, or cannot load on this Node.js. */
  | 'DRIVER_MISSING'
  /** The database could not be opened, reached or migrated. */
  | 'OPEN_FAILED';

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

/**
 * The cause of a driver error in one line. Node reports a refused connection to a host with several addresses
 * as an AggregateError with an empty message, so its first inner error speaks for it.
 */
export function causeText(e: unknown): string {
  if (e instanceof AggregateError && !e.message && e.errors.length > 0) return causeText(e.errors[0]);
  if (e instanceof Error) {
    const text = e.message || (e as NodeJS.ErrnoException).code || e.name;
    return text.split('\n')[0]!.trim();
  }
  return String(e);
}
