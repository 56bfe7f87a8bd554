// Who may call the REST API, and for which tenant: the bearer check (or, in open dev mode, this machine only)
// and the `X-Noon-Connect-Tenant` restriction every operation applies.

import { isLoopbackHost } from '../../client/index.js';
import { BEARER_CHALLENGE, bearerToken, hostName, secretMatcher } from '../access.js';
import type { ServiceConfig } from '../config.js';
import { ApiError, checkTenant } from './http.js';

/**
 * When present, every call is restricted to this tenant: listings show only its connections, any other tenant's
 * connection answers 404 as if it did not exist, and naming another tenant anywhere answers 403. A backend that
 * serves many tenants sets it per request, so a bug in its own code cannot reach across tenants.
 */
export const TENANT_HEADER = 'x-noon-connect-tenant';

/**
 * In open dev mode, only requests addressed to a loopback name and not sent by another site's page: a page
 * elsewhere could otherwise reach the API through DNS rebinding or a simple cross-site POST.
 */
function sameMachineRequest(request: Request): boolean {
  if (!isLoopbackHost(hostName(request) ?? new URL(request.url).hostname)) return false;
  if (request.headers.get('sec-fetch-site') === 'cross-site') return false;
  const origin = request.headers.get('origin');
  if (origin === 'null') return false;
  if (origin) {
    try {
      if (!isLoopbackHost(new URL(origin).hostname)) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** The bearer check: undefined when the request may proceed, else the 401 to answer. */
export function bearerAuth(config: ServiceConfig): (request: Request) => ApiError | undefined {
  if (config.apiToken === undefined) {
    // Only dev mode may run without a token, and then only while nothing but this machine can connect.
    const open = config.mode === 'dev' && isLoopbackHost(config.host);
    return (request) =>
      open && sameMachineRequest(request)
        ? undefined
        : new ApiError(401, 'UNAUTHORIZED', 'the REST API is off: set NOON_CONNECT_API_TOKEN', {
            'www-authenticate': BEARER_CHALLENGE,
          });
  }
  const matches = secretMatcher(config.apiToken);
  return (request) => {
    const token = bearerToken(request);
    if (token === undefined)
      return new ApiError(401, 'UNAUTHORIZED', 'a bearer token is required: Authorization: Bearer <token>', {
        'www-authenticate': BEARER_CHALLENGE,
      });
    if (!matches(token))
      return new ApiError(401, 'UNAUTHORIZED', 'the bearer token is not valid', {
        'www-authenticate': `${BEARER_CHALLENGE}, error="invalid_token"`,
      });
    return undefined;
  };
}

/** The tenant of the `X-Noon-Connect-Tenant` restriction; an empty or malformed header restricts nothing: 400. */
export function restriction(request: Request): string | undefined {
  const h = request.headers.get(TENANT_HEADER);
  return h === null ? undefined : checkTenant(h, 'the X-Noon-Connect-Tenant header');
}

export function tenantMismatch(): ApiError {
  return new ApiError(
    403,
    'TENANT_MISMATCH',
    'the tenant named in the request differs from the X-Noon-Connect-Tenant header',
  );
}

/** The tenant a call is scoped to: the header's, or `?tenant=`; both must agree. */
export function tenantScope(request: Request, params: Map<string, string>): string | undefined {
  const restricted = restriction(request);
  const q = params.get('tenant');
  const asked = q === undefined ? undefined : checkTenant(q, 'the tenant query parameter');
  if (restricted !== undefined && asked !== undefined && asked !== restricted) throw tenantMismatch();
  return restricted ?? asked;
}
