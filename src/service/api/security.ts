// Who may call the REST API, and for which tenant: the bearer check (the configured all-tenants token, or one of
// the per-tenant tokens in the store, looked up on every request so a revocation holds everywhere at once; in dev
// mode without a token, the secret made at each start), no page of another origin, and the tenant restriction
// every operation applies: a scoped token's tenant, or the `X-Noon-Connect-Tenant` header.

import { isLoopbackHost } from '../../client/index.js';
import { BEARER_CHALLENGE, bearerToken, hostName, secretMatcher } from '../access.js';
import type { ServiceConfig } from '../config.js';
import type { StoreLimits } from '../limits.js';
import { requestSlot } from '../request-slot.js';
import type { ApiTokens, Principal } from '../tokens.js';
import { ApiError, checkTenant } from './http.js';

/** The caller of each request the bearer check let through. */
const principals = requestSlot<Principal>('principal');

/** Who made a request (set by the bearer check). */
export function principalOf(request: Request): Principal | undefined {
  return principals.get(request);
}

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

/** Wrong bearer tokens one client address may send per window before its tokens are no longer judged. */
export const BEARER_FAILURES_PER_ADDRESS = 20;
export const BEARER_WINDOW_MS = 60_000;

/** Counts wrong bearer tokens per client address in the store (every instance together). */
export interface BearerGuard {
  limits: Pick<StoreLimits, 'reached' | 'hit'>;
  clientAddress: (request: Request) => string;
}

function tooManyWrongTokens(retryAfterS: number): ApiError {
  return new ApiError(
    429,
    'TOO_MANY_WRONG_TOKENS',
    'too many wrong bearer tokens from this address; wait a minute',
    {
      'retry-after': String(retryAfterS),
    },
  );
}

/**
 * The bearer check: undefined when the request may proceed, else the 401 (or, from a page on another origin, the
 * 403) to answer. Without a configured token, dev mode checks the secret made at this start (`access.apiToken`).
 */
export function bearerAuth(
  config: ServiceConfig,
  access: { apiToken: string | undefined },
  tokens: Pick<ApiTokens, 'verify'>,
  guard?: BearerGuard,
): (request: Request) => Promise<ApiError | undefined> {
  const publicOrigin = new URL(config.publicUrl).origin;
  const dev = config.mode === 'dev' && isLoopbackHost(config.host);
  const matches = secretMatcher(access.apiToken);
  return async (request) => {
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
    // An address that sent too many wrong tokens this minute is refused before its next token is judged.
    const failures = guard ? `api-bearer:addr:${guard.clientAddress(request)}` : undefined;
    if (guard && failures) {
      const v = await guard.limits.reached(failures, BEARER_FAILURES_PER_ADDRESS, BEARER_WINDOW_MS);
      if (!v.allowed) return tooManyWrongTokens(v.retryAfterS);
    }
    // The configured token acts for every tenant; a stored token for its own tenant (or every one).
    const principal: Principal | undefined = matches(token)
      ? { actor: 'api-token', tenant: undefined }
      : await tokens.verify(token);
    if (!principal) {
      if (guard && failures) await guard.limits.hit(failures, BEARER_FAILURES_PER_ADDRESS, BEARER_WINDOW_MS);
      return new ApiError(401, 'UNAUTHORIZED', 'the bearer token is not valid', {
        'www-authenticate': `${BEARER_CHALLENGE}, error="invalid_token"`,
      });
    }
    principals.set(request, principal);
    return undefined;
  };
}

/**
 * The tenant a request is restricted to: a scoped token's, else the `X-Noon-Connect-Tenant` header's (an empty or
 * malformed header restricts nothing: 400). A header naming another tenant than the token's is refused (403).
 */
export function restriction(request: Request): string | undefined {
  const h = request.headers.get(TENANT_HEADER);
  const header = h === null ? undefined : checkTenant(h, 'the X-Noon-Connect-Tenant header');
  const scoped = principals.get(request)?.tenant;
  if (scoped === undefined) return header;
  if (header !== undefined && header !== scoped) throw tenantMismatch();
  return scoped;
}

/** Calls that act for the whole deployment (managing tokens) need an all-tenants token. */
export function requireAllTenants(request: Request): Principal {
  const p = principals.get(request);
  if (!p || p.tenant !== undefined)
    throw new ApiError(403, 'ALL_TENANTS_TOKEN_REQUIRED', 'this call needs an all-tenants token');
  return p;
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
