// The dashboard's gate: the headers every answer carries, the loopback-only rule of tokenless dev mode, form
// reading with the CSRF check, and the session every page but sign-in needs.

import { isLoopbackHost, PRODUCTION } from '../../client/index.js';
import { hostName } from '../access.js';
import type { ServiceConfig } from '../config.js';
import type { Dashboard } from './context.js';
import { messageBody, reloadBody, reloadHead } from './pages.js';
import type { DashboardRoute } from './routes.js';

/**
 * The origin of noon's consent page. Chromium applies `form-action` to every redirect a form submission
 * follows, and "Connect a seller" / "Reconnect" are forms whose answer redirects (through `/connect/start`) to
 * that page, so it must be allowed beside 'self'.
 */
function consentOrigin(c: ServiceConfig): string | undefined {
  const raw =
    c.noonEnv === 'local'
      ? c.noonLocalUrl
      : c.noonEnv === 'custom'
        ? c.noonAuthorizeUrl
        : c.noonEnv === 'production'
          ? PRODUCTION.authorizeUrl
          : undefined;
  try {
    return raw ? new URL(raw).origin : undefined;
  } catch {
    return undefined;
  }
}

/** What every dashboard page and redirect carries. */
export function securityHeaders(c: ServiceConfig): Readonly<Record<string, string>> {
  const consent = consentOrigin(c);
  return Object.freeze({
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${consent ? ` ${consent}` : ''}; frame-ancestors 'none'; base-uri 'none'`,
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  });
}

/**
 * Dev mode signed in with a per-start secret answers only on this machine: undefined when the request may go on,
 * else the refusal. The dashboard must not be reachable through a DNS name that points at this machine (DNS
 * rebinding): both the bound interface and the Host header must be loopback.
 */
export function offMachineRefusal(d: Dashboard, request: Request): Response | undefined {
  if (!d.dev || (isLoopbackHost(d.ctx.config.host) && isLoopbackHost(hostName(request) ?? '')))
    return undefined;
  return d.bare(
    403,
    'Sign-in required',
    messageBody(
      'Sign-in required',
      'Without NOON_CONNECT_ADMIN_TOKEN the dashboard only answers on a loopback address. Set an admin token to reach it from elsewhere.',
    ),
  );
}

class FormError extends Error {
  constructor(readonly status: 400 | 413 | 415) {
    super('bad form');
  }
}

async function readForm(request: Request): Promise<URLSearchParams> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new FormError(415);
  let text: string;
  try {
    text = await request.text();
  } catch {
    throw new FormError(413);
  }
  return new URLSearchParams(text);
}

/**
 * A posted form, once it is readable and carries this browser's CSRF token (and was not sent by another site's
 * page); otherwise the refusal to answer.
 */
export async function checkedForm(
  d: Dashboard,
  request: Request,
  route: DashboardRoute,
  cookie: string | undefined,
): Promise<URLSearchParams | Response> {
  let form: URLSearchParams;
  try {
    form = await readForm(request);
  } catch (e) {
    const status = e instanceof FormError ? e.status : 400;
    return d.bare(status, 'Bad request', messageBody('Bad request', 'This form could not be read.'));
  }
  if (request.headers.get('sec-fetch-site') === 'cross-site' || !d.auth.checkCsrf(cookie, form.get('csrf'))) {
    d.ctx.logger.warn({ dashboard: route.name }, 'dashboard: form refused (CSRF token missing or wrong)');
    return d.bare(
      403,
      'Form refused',
      messageBody(
        'This form was refused',
        'It expired or did not come from this dashboard. Open the page again and retry.',
        { href: '/', label: 'Go to the dashboard' },
      ),
    );
  }
  return form;
}

/** The cookie value of a signed-in browser; otherwise the way to sign-in. */
export async function requireSession(
  d: Dashboard,
  request: Request,
  url: URL,
  method: 'GET' | 'POST',
  cookie: string | undefined,
): Promise<{ cookie: string; cookies: string[] } | Response> {
  if (cookie && (await d.auth.isSignedIn(cookie))) return { cookie, cookies: [] };
  if (method !== 'GET') return d.redirect('/sign-in');
  const target = `${url.pathname}${url.search}`;
  // Coming back from noon's consent page (another site), a SameSite=Strict cookie stays home: one hop from
  // this origin brings it along, and only then is sign-in asked for.
  if (!cookie && request.headers.get('sec-fetch-site') === 'cross-site')
    return d.bare(200, 'Opening the dashboard', reloadBody(target), [], reloadHead(target));
  return d.redirect(`/sign-in?next=${encodeURIComponent(target)}`);
}
