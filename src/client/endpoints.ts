// The short names of the gateway calls this client makes: they name the call in errors, logs and metrics, so a
// caller (the service's metric labels, a test) can rely on them. Seller API calls made with
// `NoonSession.request` are named `<METHOD> <path>` instead and are not in this list.

/** Each gateway call of the client, by what it does. */
export const ENDPOINTS = Object.freeze({
  /** Service-account login (JWT → session cookies). */
  login: 'login',
  /** Who a session belongs to. */
  whoami: 'whoami',
  /** OAuth token/create: spends an authorization code. */
  tokenCreate: 'token.create',
  /** OAuth token/exchange: spends an access token, returns a seller key once. */
  tokenExchange: 'token.exchange',
  /** API User Service: create a key on a service account. */
  apiUsersCreate: 'api_users.create',
  /** API User Service: list a service account's keys. */
  apiUsersList: 'api_users.list',
  /** API User Service: deactivate one key. */
  apiUsersRemove: 'api_users.remove',
} as const);

/** The name of one of the client's gateway calls, e.g. `token.exchange`. */
export type EndpointName = (typeof ENDPOINTS)[keyof typeof ENDPOINTS];

/** Every gateway call name, in a fixed order. */
export const ENDPOINT_NAMES: readonly EndpointName[] = Object.freeze(Object.values(ENDPOINTS));

/** Whether a log or error's endpoint is one of the client's named gateway calls (not a seller API call). */
export function isEndpointName(value: unknown): value is EndpointName {
  return typeof value === 'string' && (ENDPOINT_NAMES as readonly string[]).includes(value);
}
