// The server-rendered dashboard (admin sign-in, CSRF-protected forms, no secrets shown). Plain HTML forms, no
// script and no external asset; every action is a POST answered by a 303 to a page showing its result once.

import { isLoopbackHost, PRODUCTION } from '../client/index.js';
import { ConnectError, checkReturnPath } from '../connect/index.js';
import { DashboardAuth } from './dashboard/auth.js';
import { type Flash, type Html, page, type Shell } from './dashboard/html.js';
import {
  ATTEMPT_FILTERS,
  ATTENTION_STATUSES,
  attemptsBody,
  attentionBody,
  connectionBody,
  connectionsBody,
  disconnectBody,
  eventsBody,
  messageBody,
  reloadBody,
  reloadHead,
  signInBody,
} from './dashboard/pages.js';
import type { RouteHandler, ServiceContext } from './service.js';

/**
 * The origin of noon's consent page. Chromium applies `form-action` to every redirect a form submission
 * follows, and "Connect a seller" / "Reconnect" are forms whose answer redirects (through `/connect/start`) to
 * that page, so it must be allowed beside 'self'.
 */
function consentOrigin(c: ServiceContext['config']): string | undefined {
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
function securityHeaders(c: ServiceContext['config']): Readonly<Record<string, string>> {
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

/** A tenant name as the connector accepts it. */
const TENANT = /^[A-Za-z0-9._:@-]{1,128}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Where a finished connect flow sends the browser back to. */
const RETURN_PATH = '/connections';

type RouteName =
  | 'home'
  | 'connection'
  | 'confirm-disconnect'
  | 'attempts'
  | 'attention'
  | 'events'
  | 'sign-in'
  | 'sign-out'
  | 'connect-seller'
  | 'test'
  | 'rotate'
  | 'disconnect'
  | 'reconnect';

interface Route {
  name: RouteName;
  methods: readonly ('GET' | 'POST')[];
  id?: string;
}

const CONNECTION_ACTIONS: Record<string, Route['name']> = {
  test: 'test',
  rotate: 'rotate',
  disconnect: 'disconnect',
  reconnect: 'reconnect',
};

function matchRoute(path: string): Route | undefined {
  switch (path) {
    case '/':
    case RETURN_PATH:
      return { name: 'home', methods: ['GET'] };
    case '/attempts':
      return { name: 'attempts', methods: ['GET'] };
    case '/attention':
      return { name: 'attention', methods: ['GET'] };
    case '/events':
      return { name: 'events', methods: ['GET'] };
    case '/sign-in':
      return { name: 'sign-in', methods: ['GET', 'POST'] };
    case '/sign-out':
      return { name: 'sign-out', methods: ['POST'] };
    case '/connect-seller':
      return { name: 'connect-seller', methods: ['POST'] };
  }
  const m = /^\/connections\/([A-Za-z0-9-]{1,64})(?:\/(test|rotate|disconnect|reconnect))?$/.exec(path);
  if (!m) return undefined;
  const id = m[1]!;
  if (!m[2]) return { name: 'connection', methods: ['GET'], id };
  // The disconnect address answers GET with a confirmation page and POST with the disconnection itself.
  if (m[2] === 'disconnect') return { name: 'disconnect', methods: ['GET', 'POST'], id };
  return { name: CONNECTION_ACTIONS[m[2]]!, methods: ['POST'], id };
}

/** A path inside the dashboard to come back to after signing in; anything else is `/`. */
function safeNext(raw: string | null): string {
  if (!raw || raw.length > 512 || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\'))
    return '/';
  let u: URL;
  try {
    u = new URL(raw, 'http://dashboard.invalid');
  } catch {
    return '/';
  }
  if (u.origin !== 'http://dashboard.invalid') return '/';
  const r = matchRoute(u.pathname);
  if (!r?.methods.includes('GET') || r.name === 'sign-in') return '/';
  return `${u.pathname}${u.search}`;
}

function hostOf(request: Request): string {
  const host = request.headers.get('host') ?? '';
  // `[::1]:8787` → `[::1]`, `127.0.0.1:8787` → `127.0.0.1`.
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
}

function errorCodeOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.name : 'error';
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

export function createDashboardHandler(ctx: ServiceContext): RouteHandler {
  const { config, store, connector, logger } = ctx;
  const HEADERS = securityHeaders(config);
  const auth = new DashboardAuth({
    adminToken: config.adminToken,
    secure: config.publicUrl.startsWith('https:'),
    now: ctx.now,
  });
  // Dev without an admin token: open without sign-in, but only on this machine.
  const open = config.mode === 'dev' && config.adminToken === undefined;
  let returnTo: string | undefined;
  try {
    returnTo = checkReturnPath(RETURN_PATH, config.returnPaths);
  } catch {
    // The operator's allow-list leaves the dashboard out: the flow ends on the connector's own result page.
    returnTo = undefined;
  }

  function respond(
    status: number,
    body: string,
    cookies: string[] = [],
    extra: Record<string, string> = {},
  ): Response {
    const headers = new Headers({ 'content-type': 'text/html; charset=utf-8', ...HEADERS, ...extra });
    for (const c of cookies) headers.append('set-cookie', c);
    return new Response(body, { status, headers });
  }

  function redirect(location: string, cookies: string[] = []): Response {
    const headers = new Headers({ location, ...HEADERS });
    for (const c of cookies) headers.append('set-cookie', c);
    return new Response(null, { status: 303, headers });
  }

  function bare(status: number, title: string, body: Html, cookies: string[] = [], head?: Html): Response {
    return respond(status, page({ title, chrome: 'bare', body, ...(head ? { head } : {}) }), cookies);
  }

  async function full(
    status: number,
    s: Omit<Shell, 'chrome' | 'open' | 'csrf'>,
    cookie: string,
    cookies: string[],
  ): Promise<Response> {
    const attention = s.attention ?? (await attentionCount());
    return respond(
      status,
      page({ ...s, chrome: 'full', attention, open, csrf: auth.csrfFor(cookie) }),
      cookies,
    );
  }

  async function attentionCount(): Promise<number> {
    return (await store.listAttempts({ statuses: ATTENTION_STATUSES, limit: 1000 })).length;
  }

  async function connectFlash(url: URL): Promise<Flash | undefined> {
    const id = url.searchParams.get('connect_attempt');
    if (!id || !UUID.test(id)) return undefined;
    const a = await store.getAttempt(id);
    if (!a) return undefined;
    if (a.status === 'CONNECTED' || a.status === 'REPAIRED')
      return {
        tone: 'ok',
        text: `Seller connected: project ${a.sellerProject ?? '?'} for tenant ${a.tenant}.`,
      };
    return {
      tone: 'info',
      text: `The connect attempt for tenant ${a.tenant} is ${a.status.toLowerCase().replace(/_/g, ' ')}.`,
    };
  }

  /** Runs a connection action and turns its outcome into a flash message. */
  async function act(
    what: string,
    id: string,
    run: () => Promise<string | Flash>,
  ): Promise<{ flash: Flash } | { missing: true }> {
    try {
      const result = await run();
      logger.info({ dashboard: what, connectionId: id }, `dashboard: ${what}`);
      return { flash: typeof result === 'string' ? { tone: 'ok', text: result } : result };
    } catch (e) {
      if (e instanceof ConnectError && e.code === 'CONNECTION_NOT_FOUND') return { missing: true };
      const code = errorCodeOf(e);
      logger.warn({ dashboard: what, connectionId: id, code }, `dashboard: ${what} failed`);
      const why = e instanceof ConnectError ? e.message : `noon or the store answered ${code}`;
      return { flash: { tone: 'bad', text: `${what} failed: ${why} (${code}).` } };
    }
  }

  return async (request) => {
    const url = new URL(request.url);
    const route = matchRoute(url.pathname);
    if (!route) return undefined;
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    if (!route.methods.includes(method as 'GET' | 'POST')) {
      return respond(
        405,
        page({
          title: 'Method not allowed',
          chrome: 'bare',
          body: messageBody(
            'Method not allowed',
            `This address answers ${route.methods.join(' and ')} only.`,
            {
              href: '/',
              label: 'Go to the dashboard',
            },
          ),
        }),
        [],
        { allow: route.methods.join(', ') },
      );
    }
    if (open && !(isLoopbackHost(config.host) && isLoopbackHost(hostOf(request)))) {
      // Without sign-in the dashboard must not be reachable from another machine, nor through a DNS name that
      // points at this one (DNS rebinding): both the bound interface and the Host header must be loopback.
      return bare(
        403,
        'Sign-in required',
        messageBody(
          'Sign-in required',
          'Without NOON_CONNECT_ADMIN_TOKEN the dashboard only answers on a loopback address. Set an admin token to reach it from elsewhere.',
        ),
      );
    }

    const cookie = auth.readCookie(request);
    const fetchSite = request.headers.get('sec-fetch-site');
    let form = new URLSearchParams();
    if (method === 'POST') {
      try {
        form = await readForm(request);
      } catch (e) {
        const status = e instanceof FormError ? e.status : 400;
        return bare(status, 'Bad request', messageBody('Bad request', 'This form could not be read.'));
      }
      if (fetchSite === 'cross-site' || !auth.checkCsrf(cookie, form.get('csrf'))) {
        logger.warn({ dashboard: route.name }, 'dashboard: form refused (CSRF token missing or wrong)');
        return bare(
          403,
          'Form refused',
          messageBody(
            'This form was refused',
            'It expired or did not come from this dashboard. Open the page again and retry.',
            { href: '/', label: 'Go to the dashboard' },
          ),
        );
      }
    }

    // --- sign-in and sign-out ---
    if (route.name === 'sign-in') {
      const next = safeNext(method === 'POST' ? form.get('next') : url.searchParams.get('next'));
      if (open || auth.isSignedIn(cookie)) return redirect(next);
      const cookies: string[] = [];
      let value = cookie;
      if (!value) {
        value = auth.newCookieValue();
        cookies.push(auth.setCookie(value));
      }
      if (method === 'GET')
        return bare(200, 'Sign in', signInBody({ csrf: auth.csrfFor(value), next }), cookies);
      if (!auth.signInAllowed(value)) {
        logger.warn({ dashboard: 'sign-in' }, 'dashboard: sign-in paused after repeated wrong tokens');
        return bare(
          429,
          'Sign in',
          signInBody({
            csrf: auth.csrfFor(value),
            next,
            error: 'Too many wrong tokens. Wait a minute, then try again.',
          }),
          [],
        );
      }
      if (!auth.checkAdminToken((form.get('token') ?? '').trim())) {
        auth.recordFailure(value);
        logger.warn({ dashboard: 'sign-in' }, 'dashboard: wrong admin token');
        // A short pause on every wrong token slows guessing without locking anyone else out.
        await new Promise((r) => setTimeout(r, 200));
        return bare(
          401,
          'Sign in',
          signInBody({ csrf: auth.csrfFor(value), next, error: 'That token is not right.' }),
        );
      }
      const session = auth.signIn();
      logger.info({ dashboard: 'sign-in' }, 'dashboard: signed in');
      return redirect(next, [auth.setCookie(session.value, session.maxAgeS)]);
    }
    if (route.name === 'sign-out') {
      if (open) return redirect('/');
      auth.signOut(cookie);
      logger.info({ dashboard: 'sign-out' }, 'dashboard: signed out');
      return redirect('/sign-in', [auth.clearCookie()]);
    }

    // --- everything else needs a session (or the open dev mode) ---
    const cookies: string[] = [];
    let value: string;
    if (open) {
      value = cookie ?? auth.newCookieValue();
      if (!cookie) cookies.push(auth.setCookie(value));
    } else if (cookie && auth.isSignedIn(cookie)) {
      value = cookie;
    } else if (method === 'GET') {
      const target = `${url.pathname}${url.search}`;
      // Coming back from noon's consent page (another site), a SameSite=Strict cookie stays home: one hop from
      // this origin brings it along, and only then is sign-in asked for.
      if (!cookie && fetchSite === 'cross-site')
        return bare(200, 'Opening the dashboard', reloadBody(target), [], reloadHead(target));
      return redirect(`/sign-in?next=${encodeURIComponent(target)}`);
    } else {
      return redirect('/sign-in');
    }
    const now = ctx.now();
    const csrf = auth.csrfFor(value);
    const back = (path: string, flash: Flash) => {
      auth.setFlash(value, flash);
      return redirect(path, cookies);
    };

    switch (route.name) {
      case 'home': {
        const flash = auth.takeFlash(value) ?? (await connectFlash(url));
        const connections = (await store.listConnections()).sort(
          (a, b) => (b.connectedAt ?? b.createdAt) - (a.connectedAt ?? a.createdAt),
        );
        const attention = await attentionCount();
        return full(
          200,
          {
            title: 'Connections',
            nav: 'connections',
            attention,
            flash,
            body: connectionsBody({ connections, attention, csrf, now }),
          },
          value,
          cookies,
        );
      }
      case 'attempts': {
        const key = url.searchParams.get('state') ?? 'all';
        const filter = ATTEMPT_FILTERS[key] ? key : 'all';
        const statuses = ATTEMPT_FILTERS[filter]!.statuses;
        const attempts = await store.listAttempts({ ...(statuses ? { statuses } : {}), limit: 200 });
        return full(
          200,
          {
            title: 'Attempts',
            nav: 'attempts',
            flash: auth.takeFlash(value),
            body: attemptsBody({ attempts, filter, now }),
          },
          value,
          cookies,
        );
      }
      case 'attention': {
        const attempts = await store.listAttempts({ statuses: ATTENTION_STATUSES, limit: 500 });
        const connections = await store.listConnections({ status: 'needs_reconnect' });
        return full(
          200,
          {
            title: 'Needs attention',
            nav: 'attention',
            flash: auth.takeFlash(value),
            body: attentionBody({ attempts, connections, csrf, now }),
          },
          value,
          cookies,
        );
      }
      case 'events': {
        const [events, deliveries] = await Promise.all([
          store.listEvents({ limit: 200 }),
          store.listDeliveries({ limit: 200 }),
        ]);
        return full(
          200,
          {
            title: 'Events',
            nav: 'events',
            flash: auth.takeFlash(value),
            body: eventsBody({ events, deliveries, webhooks: config.webhookUrls.length > 0, now }),
          },
          value,
          cookies,
        );
      }
      case 'connect-seller': {
        const tenant = (form.get('tenant') ?? '').trim();
        if (!TENANT.test(tenant)) {
          return back('/', {
            tone: 'bad',
            text: `“${tenant.slice(0, 140)}” is not a tenant name: use 1 to 128 letters, digits and . _ : @ -`,
          });
        }
        const link = ctx.links.create({ tenant, ...(returnTo ? { returnTo } : {}) });
        logger.info({ dashboard: 'connect-seller', tenant }, 'dashboard: connect link created');
        return redirect(link.url, cookies);
      }
      default:
        break;
    }

    // --- one connection ---
    const id = route.id!;
    const conn = await store.getConnection(id);
    const here = `/connections/${encodeURIComponent(id)}`;
    const notFound = () =>
      full(
        404,
        {
          title: 'Not found',
          nav: 'connections',
          body: messageBody('No such connection', 'It may have been removed.', {
            href: '/',
            label: 'All connections',
          }),
        },
        value,
        cookies,
      );
    if (!conn) return notFound();
    if (route.name === 'connection' || (route.name === 'disconnect' && method === 'GET')) {
      if (route.name === 'disconnect') {
        return full(
          200,
          { title: 'Disconnect', nav: 'connections', body: disconnectBody({ c: conn, csrf }) },
          value,
          cookies,
        );
      }
      const [credentials, attempts, events] = await Promise.all([
        store.listCredentials({ connectionId: id }),
        store.listAttempts({ connectionId: id, limit: 50 }),
        store.listEvents({ connectionId: id, limit: 50 }),
      ]);
      credentials.sort((a, b) => b.createdAt - a.createdAt);
      return full(
        200,
        {
          title: `${conn.tenant} · ${conn.sellerProject}`,
          nav: 'connections',
          flash: auth.takeFlash(value),
          body: connectionBody({ c: conn, credentials, attempts, events, csrf, now }),
        },
        value,
        cookies,
      );
    }
    if (route.name === 'reconnect') {
      const link = ctx.links.create({
        tenant: conn.tenant,
        connectionId: conn.id,
        ...(returnTo ? { returnTo } : {}),
      });
      logger.info({ dashboard: 'reconnect', connectionId: conn.id }, 'dashboard: reconnect link created');
      return redirect(link.url, cookies);
    }
    let outcome: Awaited<ReturnType<typeof act>>;
    if (route.name === 'test') {
      outcome = await act('Test connection', id, async () => {
        const r = await connector.healthCheck(id);
        return r.ok
          ? `Connection works: ${r.detail}.`
          : { tone: 'bad', text: `Test connection failed: ${r.detail}.` };
      });
    } else if (route.name === 'rotate') {
      outcome = await act('Rotate key', id, async () => {
        const v = await connector.rotate(id);
        return `Key rotated: now using key ${v.keyId ?? '?'}; the previous key is removed on noon.`;
      });
    } else {
      outcome = await act('Disconnect', id, async () => {
        await connector.disconnect(id);
        return `Disconnected ${conn.sellerProject} (tenant ${conn.tenant}); its keys were removed on noon.`;
      });
    }
    if ('missing' in outcome) return notFound();
    return back(here, outcome.flash);
  };
}
