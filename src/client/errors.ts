// The client's errors: one base class with a stable `code`, one subclass for the failed exchange workflow
// (it carries what support needs), and a coded TypeError for misuse of the API. No error ever carries a secret
// value: messages are built from field names, statuses and reasons only, never from bodies or inputs.

/** Stable codes of every failure the client reports; decide on these, never on message text. */
export type NoonErrorCode =
  /** 401 after one re-login and one resend, or a login Noon refused. */
  | 'UNAUTHENTICATED'
  /** 403 other than CLIENT_NOT_OWNED (e.g. PROJECT_NOT_ALLOWED, TOKEN_NOT_OWNED, PERMISSION_DENIED). */
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  /** Another 4xx Noon gave no more specific reason for (INVALID_ARGUMENT, UNSUPPORTED_GRANT_TYPE, …). */
  | 'BAD_REQUEST'
  /** 409 other than KEY_LIMIT. */
  | 'CONFLICT'
  /** 429 that was not retried (tries used up, or Retry-After beyond the cap). */
  | 'RATE_LIMITED'
  | 'CODE_INVALID'
  | 'CODE_EXPIRED'
  | 'CODE_USED'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_USED'
  | 'TOKEN_REVOKED'
  | 'INVALID_CLIENT'
  | 'CLIENT_NOT_OWNED'
  | 'KEY_LIMIT'
  /** token/exchange answered 200 with `status.code` ≠ 0: nothing usable was created (NC29). */
  | 'EXCHANGE_FAILED'
  /** A success status with a body that is not what the contract documents. */
  | 'RESPONSE_INVALID'
  /** The body went past the size limit; reading stopped there. */
  | 'RESPONSE_TOO_LARGE'
  /** The project in a response differs from the one expected. */
  | 'PROJECT_MISMATCH'
  /** Noon answered 3xx; redirects are never followed. */
  | 'REDIRECT'
  /** No connection could be made (after bounded retries), or the connection broke on a call safe to repeat. */
  | 'NETWORK'
  /** The per-request deadline fired on a call that changes nothing upstream. */
  | 'TIMEOUT'
  /** A call that changes state upstream was sent, but no complete answer came back (timeout or reset). */
  | 'OUTCOME_UNKNOWN'
  /** The caller's AbortSignal ended the call. */
  | 'ABORTED'
  /** The environment cannot do this (e.g. token/create on Noon's static sandbox, NC2). */
  | 'NOT_SUPPORTED'
  /** 5xx from Noon. */
  | 'UPSTREAM'
  /** A key file with a missing or mistyped field, or a private key that does not load as RSA. */
  | 'CREDENTIALS_INVALID';

/** What a {@link NoonError} carries besides its code and message: never a body, token or key. */
export interface NoonErrorDetails {
  /** HTTP status of the response the error came from. */
  status?: number | undefined;
  /** `details[].reason` of Noon's error body (NC37), e.g. `CODE_USED`. */
  reason?: string | undefined;
  /** `X-Request-Id` of the response (NC39). */
  requestId?: string | undefined;
  /** Seconds Noon asked to wait (`Retry-After`). */
  retryAfter?: number | undefined;
  /** Which call failed, e.g. `token.create`. */
  endpoint?: string | undefined;
  /** The response or key-file field that failed a check, e.g. `result.private_key`. */
  field?: string | undefined;
  /** How many attempts were made. */
  attempts?: number | undefined;
}

/** Every failure of a Noon call. */
export class NoonError extends Error {
  readonly code: NoonErrorCode;
  readonly status: number | undefined;
  readonly reason: string | undefined;
  readonly requestId: string | undefined;
  readonly retryAfter: number | undefined;
  readonly endpoint: string | undefined;
  readonly field: string | undefined;
  readonly attempts: number | undefined;

  constructor(code: NoonErrorCode, message: string, details: NoonErrorDetails = {}) {
    super(message);
    this.name = 'NoonError';
    this.code = code;
    this.status = details.status;
    this.reason = details.reason;
    this.requestId = details.requestId;
    this.retryAfter = details.retryAfter;
    this.endpoint = details.endpoint;
    this.field = details.field;
    this.attempts = details.attempts;
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const k of [
      'status',
      'reason',
      'requestId',
      'retryAfter',
      'endpoint',
      'field',
      'attempts',
    ] as const) {
      if (this[k] !== undefined) out[k] = this[k];
    }
    return out;
  }
}

/**
 * token/exchange answered HTTP 200 with `status.code` ≠ 0 (NC29): the workflow failed, nothing usable was
 * created and the access token is spent. Keep `oauthRequestId` for Noon support.
 */
export class NoonExchangeError extends NoonError {
  readonly oauthRequestId: string | undefined;
  /** The workflow status code (e.g. 9, FAILED_PRECONDITION, when the account has 5 keys, NC33). */
  readonly statusCode: number;
  readonly statusMessage: string | undefined;

  constructor(
    statusCode: number,
    statusMessage: string | undefined,
    oauthRequestId: string | undefined,
    details: NoonErrorDetails = {},
  ) {
    super('EXCHANGE_FAILED', `token exchange failed with workflow status ${statusCode}`, details);
    this.name = 'NoonExchangeError';
    this.statusCode = statusCode;
    this.statusMessage = statusMessage;
    this.oauthRequestId = oauthRequestId;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      statusCode: this.statusCode,
      ...(this.statusMessage !== undefined ? { statusMessage: this.statusMessage } : {}),
      ...(this.oauthRequestId !== undefined ? { oauthRequestId: this.oauthRequestId } : {}),
    };
  }
}

/** Stable codes of {@link NoonTypeError}: misuse of the API, found before anything is sent. */
export type NoonTypeErrorCode = 'INVALID_ARGUMENT' | 'USER_AGENT_REQUIRED' | 'INSECURE_URL';

/** Misuse of the API: a missing option, a bad argument, an insecure URL. */
export class NoonTypeError extends TypeError {
  readonly code: NoonTypeErrorCode;

  constructor(code: NoonTypeErrorCode, message: string) {
    super(message);
    this.name = 'NoonTypeError';
    this.code = code;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** Reasons (NC37) that name a failure precisely enough to get their own code, whatever the 4xx status. */
const REASON_CODES: Readonly<Record<string, NoonErrorCode>> = {
  CODE_INVALID: 'CODE_INVALID',
  CODE_EXPIRED: 'CODE_EXPIRED',
  CODE_USED: 'CODE_USED',
  TOKEN_INVALID: 'TOKEN_INVALID',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  TOKEN_USED: 'TOKEN_USED',
  TOKEN_REVOKED: 'TOKEN_REVOKED',
  INVALID_CLIENT: 'INVALID_CLIENT',
  CLIENT_NOT_OWNED: 'CLIENT_NOT_OWNED',
  KEY_LIMIT: 'KEY_LIMIT',
};

/** The code for an HTTP error status and the reason Noon gave (NC37): never from message text. */
export function codeForStatus(status: number, reason: string | undefined): NoonErrorCode {
  if (status >= 300 && status < 400) return 'REDIRECT';
  // 501: the endpoint does not exist in this deployment (e.g. credentials/list where listing is off).
  if (status === 501) return 'NOT_SUPPORTED';
  if (status >= 500) return 'UPSTREAM';
  if (status === 429) return 'RATE_LIMITED';
  if (status >= 400) {
    const byReason = reason !== undefined ? REASON_CODES[reason] : undefined;
    if (byReason) return byReason;
    switch (status) {
      case 401:
        return 'UNAUTHENTICATED';
      case 403:
        return 'FORBIDDEN';
      case 404:
        return 'NOT_FOUND';
      case 409:
        return 'CONFLICT';
      default:
        return 'BAD_REQUEST';
    }
  }
  return 'RESPONSE_INVALID';
}
