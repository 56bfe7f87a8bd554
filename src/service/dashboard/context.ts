// What every part of the dashboard shares (the service, sign-in state, how to answer), and the one request
// being answered once its session is settled (a visit), with the two ways a visit ends: a full page, or a 303
// back to a page that shows a flash message once.

import { checkReturnPath } from '../../connect/index.js';
import type { ServiceContext } from '../service.js';
import { DashboardAuth } from './auth.js';
import { type Flash, type Html, page, type Shell } from './html.js';
import { ATTENTION_STATUSES } from './pages.js';
import { type DashboardRoute, RETURN_PATH } from './routes.js';
import { securityHeaders } from './security.js';

export interface Dashboard {
  ctx: ServiceContext;
  auth: DashboardAuth;
  /** Dev mode without an admin token: sign-in is with the secret made at this start, and only on this machine. */
  dev: boolean;
  /** Where a connect flow started here returns to; undefined when the allow-list leaves the dashboard out. */
  returnTo: string | undefined;
  /** An HTML answer with the dashboard's headers and the given cookies. */
  respond(status: number, body: string, cookies?: string[], extra?: Record<string, string>): Response;
  /** A 303 with the dashboard's headers. */
  redirect(location: string, cookies?: string[]): Response;
  /** A page without the signed-in chrome (sign-in, refusals). */
  bare(status: number, title: string, body: Html, cookies?: string[], head?: Html): Response;
  /** Attempts waiting for an operator (the nav's count). */
  attentionCount(): Promise<number>;
}

export function createDashboard(ctx: ServiceContext): Dashboard {
  const { config, store } = ctx;
  const headers = securityHeaders(config);
  let returnTo: string | undefined;
  try {
    returnTo = checkReturnPath(RETURN_PATH, config.returnPaths);
  } catch {
    // The operator's allow-list leaves the dashboard out: the flow ends on the connector's own result page.
    returnTo = undefined;
  }
  const respond: Dashboard['respond'] = (status, body, cookies = [], extra = {}) => {
    const h = new Headers({ 'content-type': 'text/html; charset=utf-8', ...headers, ...extra });
    for (const c of cookies) h.append('set-cookie', c);
    return new Response(body, { status, headers: h });
  };
  return {
    ctx,
    auth: new DashboardAuth({
      adminToken: ctx.access.adminToken,
      secure: config.publicUrl.startsWith('https:'),
      now: ctx.now,
      store,
      csrfKey: ctx.dashboardKey,
    }),
    dev: ctx.access.devToken !== undefined && ctx.access.adminToken === ctx.access.devToken,
    returnTo,
    respond,
    redirect(location, cookies = []) {
      const h = new Headers({ location, ...headers });
      for (const c of cookies) h.append('set-cookie', c);
      return new Response(null, { status: 303, headers: h });
    },
    bare(status, title, body, cookies = [], head) {
      return respond(status, page({ title, chrome: 'bare', body, ...(head ? { head } : {}) }), cookies);
    },
    async attentionCount() {
      return store.countAttempts(ATTENTION_STATUSES, { unresolved: true });
    },
  };
}

/** A request past the sign-in gate. */
export interface Visit {
  d: Dashboard;
  url: URL;
  route: DashboardRoute;
  method: 'GET' | 'POST';
  /** The posted form (empty for GET). */
  form: URLSearchParams;
  /** The browser's dashboard cookie value. */
  cookie: string;
  /** Cookies to set with the answer. */
  cookies: string[];
  csrf: string;
  now: number;
  /** A page with the signed-in chrome. */
  full(status: number, s: Omit<Shell, 'chrome' | 'dev' | 'csrf'>): Promise<Response>;
  /** A 303 to `path`, which shows `flash` once (kept in the store: the next page may be another instance's). */
  back(path: string, flash: Flash): Promise<Response>;
}

export function startVisit(
  d: Dashboard,
  o: Pick<Visit, 'url' | 'route' | 'method' | 'form' | 'cookie' | 'cookies'>,
): Visit {
  return {
    d,
    ...o,
    csrf: d.auth.csrfFor(o.cookie),
    now: d.ctx.now(),
    async full(status, s) {
      const attention = s.attention ?? (await d.attentionCount());
      return d.respond(
        status,
        page({ ...s, chrome: 'full', attention, dev: d.dev, csrf: d.auth.csrfFor(o.cookie) }),
        o.cookies,
      );
    },
    async back(path, flash) {
      await d.auth.setFlash(o.cookie, flash);
      return d.redirect(path, o.cookies);
    },
  };
}
