// Who may call the REST API, and for which tenant: the bearer check (in dev mode without a token, the secret made
// at each start), no page of another origin, and the `X-Noon-Connect-Tenant` restriction every operation applies.

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
 * Whether a browser page on another origin sent the request: its `Origin` is not the public URL's (another
 * site, or another port of this machine), or the browser says it is not same-origin. The API is for servers,
 * which send neither header; a page elsewhere could otherwise reach it with a simple POST, or through DNS
 * rebinding, and read nothing but still make things happen.
 */
function fromAnotherOrigin(request: Request, publicOrigin: string): boolean {
  const site = request.headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin' && site !== 'none') return true;
  const origin = request.headers.get('origin');
  return origin !== null && origin !== publicOrigin;
}

/**
 * The bearer check: undefined when the request may proceed, else the 401 (or, from a page on another origin, the
 * 403) to answer. Without a configured token, dev mode checks the secret made at this start (`access.apiToken`).
 */
export function bearerAuth(
  config: ServiceConfig,
  access: { apiToken: string | undefined },
): (request: Request) => ApiError | undefined {
  const publicOrigin = new URL(config.publicUrl).origin;
  const dev = config.mode === 'dev' && isLoopbackHost(config.host);
  const matches = secretMatcher(access.apiToken);
  return (request) => {
    if (fromAnotherOrigin(request, publicOrigin))
      return new ApiError(403, 'FORBIDDEN', 'the REST API does not answer pages of other origins');
    // In dev mode a name that is not loopback (DNS rebinding) is refused before any token is judged.
    if (dev && !isLoopbackHost(hostName(request) ?? new URL(request.url).hostname))
      return new ApiError(403, 'FORBIDDEN', 'in dev mode the REST API answers only on a loopback address');
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
