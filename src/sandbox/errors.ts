// Noon's error responses in the gRPC-gateway shape (NC37): one class per protocol error the sandbox can answer.

/** gRPC status codes used in error bodies. */
export const GrpcCode = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export interface ErrorBody {
  code: number;
  message: string;
  details: { '@type': string; reason: string; domain: string; metadata?: Record<string, string> }[];
}

/** Base of every error the sandbox answers with; `reason` is the stable machine-readable part. */
export class SandboxError extends Error {
  readonly status: number;
  readonly grpc: number;
  readonly reason: string;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    grpc: number,
    reason: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'SandboxError';
    this.status = status;
    this.grpc = grpc;
    this.reason = reason;
    this.headers = headers;
  }

  /** The body; `withReason: false` drops `details` (the "no reason given" alternative of NC13). */
  body(withReason = true): ErrorBody {
    return {
      code: this.grpc,
      message: this.message,
      details: withReason
        ? [
            {
              '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
              reason: this.reason,
              domain: 'noon.partners',
            },
          ]
        : [],
    };
  }
}

function define(status: number, grpc: number, reason: string, message: string) {
  return class extends SandboxError {
    static readonly reason = reason;
    constructor(detail?: string, headers?: Record<string, string>) {
      super(status, grpc, reason, detail ? `${message}: ${detail}` : message, headers);
    }
  };
}

const G = GrpcCode;
export const InvalidArgument = define(400, G.INVALID_ARGUMENT, 'INVALID_ARGUMENT', 'invalid request');
export const MalformedJson = define(
  400,
  G.INVALID_ARGUMENT,
  'MALFORMED_JSON',
  'request body is not valid JSON',
);
export const UserAgentRequired = define(
  400,
  G.INVALID_ARGUMENT,
  'USER_AGENT_REQUIRED',
  'User-Agent header is required',
);
export const UnsupportedMediaType = define(
  415,
  G.INVALID_ARGUMENT,
  'UNSUPPORTED_MEDIA_TYPE',
  'Content-Type must be application/json',
);
export const PayloadTooLarge = define(413, G.INVALID_ARGUMENT, 'PAYLOAD_TOO_LARGE', 'request body too large');
export const UnsupportedGrantType = define(
  400,
  G.INVALID_ARGUMENT,
  'UNSUPPORTED_GRANT_TYPE',
  'grant_type must be authorization_code',
);
export const CodeInvalid = define(400, G.INVALID_ARGUMENT, 'CODE_INVALID', 'authorization code is invalid');
export const CodeExpired = define(400, G.INVALID_ARGUMENT, 'CODE_EXPIRED', 'authorization code has expired');
export const CodeUsed = define(400, G.INVALID_ARGUMENT, 'CODE_USED', 'authorization code was already used');
export const TokenInvalid = define(400, G.INVALID_ARGUMENT, 'TOKEN_INVALID', 'access token is invalid');
export const TokenExpired = define(400, G.INVALID_ARGUMENT, 'TOKEN_EXPIRED', 'access token has expired');
export const TokenUsed = define(400, G.INVALID_ARGUMENT, 'TOKEN_USED', 'access token was already used');
export const TokenRevoked = define(400, G.INVALID_ARGUMENT, 'TOKEN_REVOKED', 'access token was revoked');
export const SessionRequired = define(
  401,
  G.UNAUTHENTICATED,
  'SESSION_REQUIRED',
  'a logged-in session is required',
);
export const SessionExpired = define(401, G.UNAUTHENTICATED, 'SESSION_EXPIRED', 'the session has expired');
export const InvalidClient = define(401, G.UNAUTHENTICATED, 'INVALID_CLIENT', 'client authentication failed');
export const InvalidLoginToken = define(401, G.UNAUTHENTICATED, 'INVALID_TOKEN', 'login token rejected');
export const ClientNotOwned = define(
  403,
  G.PERMISSION_DENIED,
  'CLIENT_NOT_OWNED',
  "the client does not belong to the session's project",
);
export const TokenNotOwned = define(
  403,
  G.PERMISSION_DENIED,
  'TOKEN_NOT_OWNED',
  'the access token was issued to another project',
);
export const ProjectNotAllowed = define(
  403,
  G.PERMISSION_DENIED,
  'PROJECT_NOT_ALLOWED',
  'the account may not act in this project',
);
export const PermissionDenied = define(403, G.PERMISSION_DENIED, 'PERMISSION_DENIED', 'permission denied');
export const NotFound = define(404, G.NOT_FOUND, 'NOT_FOUND', 'not found');
export const AccountNotFound = define(404, G.NOT_FOUND, 'ACCOUNT_NOT_FOUND', 'service account not found');
export const KeyNotFound = define(404, G.NOT_FOUND, 'KEY_NOT_FOUND', 'key not found');
export const MethodNotAllowed = define(405, G.UNIMPLEMENTED, 'METHOD_NOT_ALLOWED', 'method not allowed');
export const KeyLimit = define(
  409,
  G.FAILED_PRECONDITION,
  'KEY_LIMIT',
  'the service account already has 5 keys',
);
export const Unimplemented = define(501, G.UNIMPLEMENTED, 'UNIMPLEMENTED', 'not implemented');
export const RateLimited = define(429, G.RESOURCE_EXHAUSTED, 'RATE_LIMITED', 'too many requests');
export const Internal = define(500, G.INTERNAL, 'INTERNAL', 'internal error');
export const Unavailable = define(503, G.UNAVAILABLE, 'UNAVAILABLE', 'service unavailable');
export const AdminTokenRequired = define(
  401,
  G.UNAUTHENTICATED,
  'ADMIN_TOKEN_REQUIRED',
  'the admin API needs Authorization: Bearer <admin token>',
);
