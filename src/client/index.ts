// noon-connect/client: typed calls to Noon: service-account sessions, the OAuth token calls, the API User
// Service and any seller API, with strict response checks and one error class with stable codes.

export {
  type AccountRef,
  type ApiUserPaths,
  type CreatedCredential,
  type CredentialInfo,
  DEFAULT_API_USER_PATHS,
  NoonApiUsers,
  processCreateCredentialBody,
  processListCredentialsResponse,
  processRemoveCredentialResponse,
} from './api-users.js';
export { DEFAULT_MAX_BODY_BYTES } from './checks.js';
export {
  type Clock,
  NoonClient,
  type NoonClientOptions,
  type NoonLogEntry,
  type NoonLogger,
  type Randomness,
  type RetryOptions,
  type Sleep,
} from './client.js';
export {
  type KeyCheck,
  type KeyFile,
  type LoginSigner,
  loadCredentials,
  NoonCredentials,
  parseCredentials,
} from './credentials.js';
export { ENDPOINT_NAMES, ENDPOINTS, type EndpointName, isEndpointName } from './endpoints.js';
export {
  isLoopbackHost,
  NOON_SANDBOX_GATEWAY,
  type NoonEnvironment,
  PRODUCTION,
  type ResolvedEnvironment,
} from './environment.js';
export {
  NoonError,
  type NoonErrorCode,
  type NoonErrorDetails,
  NoonExchangeError,
  NoonTypeError,
  type NoonTypeErrorCode,
} from './errors.js';
export { createLoginJwt, LOGIN_JWT_TTL_S, type LoginClaims, loginClaims, signLoginJwt } from './jwt.js';
export {
  type CallOptions,
  type ExchangeCheckOptions,
  type ExchangeResult,
  NoonOAuth,
  type NoonOAuthOptions,
  processCreateTokenResponse,
  processExchangeBody,
  processExchangeResponse,
  TOKEN_CREATE_PATH,
  TOKEN_EXCHANGE_PATH,
  type TokenResult,
} from './oauth.js';
export {
  LOGIN_PATH,
  type NoonApiResponse,
  NoonSession,
  processWhoamiResponse,
  type QueryValue,
  type RequestOptions,
  WHOAMI_PATH,
  type Whoami,
} from './session.js';
export type { FetchLike } from './transport.js';
