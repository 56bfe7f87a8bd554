// The REST API's routes: which path names which operation, and the one method each answers.

import { ApiError, checkConnectionId } from './http.js';

/** The API's own description (public: it holds nothing a caller could not learn from the docs). */
export const OPENAPI_PATH = '/api/openapi.json';

/** The operations on one connection: `POST /api/connections/{id}/<action>`. */
const ACTIONS = ['rotate', 'disconnect', 'health-check', 'proxy'] as const;
type ConnectionAction = (typeof ACTIONS)[number];

export type RouteName =
  | 'list'
  | 'get'
  | 'links'
  | ConnectionAction
  | 'tokens-list'
  | 'tokens-create'
  | 'tokens-revoke'
  | 'audit';

/** A matched route; `id` is the connection's (the token's prefix on `tokens-revoke`; '' on routes without one). */
export interface Route {
  name: RouteName;
  id: string;
}

/** The one method each route answers. */
export const ROUTE_METHODS: Readonly<Record<RouteName, 'GET' | 'POST'>> = Object.freeze({
  list: 'GET',
  get: 'GET',
  links: 'POST',
  rotate: 'POST',
  disconnect: 'POST',
  'health-check': 'POST',
  proxy: 'POST',
  'tokens-list': 'GET',
  'tokens-create': 'POST',
  'tokens-revoke': 'POST',
  audit: 'GET',
});

/** Whether a path is under the API (`/api` or `/api/…`); anything else is left to the other handlers. */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/');
}

/**
 * The route a path names, or undefined (404). Ids are checked here so no operation sees a malformed one.
 * `/api/tokens` is two routes: GET lists, POST creates (`method` picks; a third method gets the list's 405).
 */
export function matchRoute(path: string, method = 'GET'): Route | undefined {
  const s = path.split('/').slice(2);
  if (s.length === 1 && s[0] === 'connect-links') return { name: 'links', id: '' };
  if (s.length === 1 && s[0] === 'audit') return { name: 'audit', id: '' };
  if (s[0] === 'tokens') {
    if (s.length === 1) return { name: method === 'POST' ? 'tokens-create' : 'tokens-list', id: '' };
    // Any prefix is the route's: one that is not a token's answers 404 TOKEN_NOT_FOUND from the operation.
    if (s.length === 3 && s[2] === 'revoke' && s[1] !== '')
      return { name: 'tokens-revoke', id: s[1]!.slice(0, 64) };
    return undefined;
  }
  if (s[0] !== 'connections') return undefined;
  if (s.length === 1) return { name: 'list', id: '' };
  if (s.length === 2 && s[1] !== '') return { name: 'get', id: checkConnectionId(s[1]!) };
  const action = s[2] as ConnectionAction;
  if (s.length === 3 && s[1] !== '' && ACTIONS.includes(action))
    return { name: action, id: checkConnectionId(s[1]!) };
  return undefined;
}

export function methodNotAllowed(allow: string): ApiError {
  return new ApiError(405, 'METHOD_NOT_ALLOWED', `this route answers ${allow} only`, { allow });
}
