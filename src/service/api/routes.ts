// The REST API's routes: which path names which operation, and the one method each answers.

import { ApiError, checkConnectionId } from './http.js';

/** The API's own description (public: it holds nothing a caller could not learn from the docs). */
export const OPENAPI_PATH = '/api/openapi.json';

/** The operations on one connection: `POST /api/connections/{id}/<action>`. */
const ACTIONS = ['rotate', 'disconnect', 'health-check', 'proxy'] as const;
type ConnectionAction = (typeof ACTIONS)[number];

export type RouteName = 'list' | 'get' | 'links' | ConnectionAction;

/** A matched route; `id` is the connection's ('' on routes without one). */
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
});

/** Whether a path is under the API (`/api` or `/api/…`); anything else is left to the other handlers. */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/');
}

/** The route a path names, or undefined (404). Ids are checked here so no operation sees a malformed one. */
export function matchRoute(path: string): Route | undefined {
  const s = path.split('/').slice(2);
  if (s.length === 1 && s[0] === 'connect-links') return { name: 'links', id: '' };
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
