// Signing in to the dashboard with the admin token, and signing out. A wrong token is answered slowly and,
// repeated, pauses sign-in for that browser only.

import type { Dashboard } from './context.js';
import { signInBody } from './pages.js';
import { safeNext } from './routes.js';

export async function signIn(
  d: Dashboard,
  o: { url: URL; method: 'GET' | 'POST'; form: URLSearchParams; cookie: string | undefined },
): Promise<Response> {
  const { auth, ctx } = d;
  const next = safeNext(o.method === 'POST' ? o.form.get('next') : o.url.searchParams.get('next'));
  if (d.open || auth.isSignedIn(o.cookie)) return d.redirect(next);
  const cookies: string[] = [];
  let value = o.cookie;
  if (!value) {
    value = auth.newCookieValue();
    cookies.push(auth.setCookie(value));
  }
  if (o.method === 'GET')
    return d.bare(200, 'Sign in', signInBody({ csrf: auth.csrfFor(value), next }), cookies);
  if (!auth.signInAllowed(value)) {
    ctx.logger.warn({ dashboard: 'sign-in' }, 'dashboard: sign-in paused after repeated wrong tokens');
    return d.bare(
      429,
      'Sign in',
      signInBody({
        csrf: auth.csrfFor(value),
        next,
        error: 'Too many wrong tokens. Wait a minute, then try again.',
      }),
    );
  }
  if (!auth.checkAdminToken((o.form.get('token') ?? '').trim())) {
    auth.recordFailure(value);
    ctx.logger.warn({ dashboard: 'sign-in' }, 'dashboard: wrong admin token');
    // A short pause on every wrong token slows guessing without locking anyone else out.
    await new Promise((r) => setTimeout(r, 200));
    return d.bare(
      401,
      'Sign in',
      signInBody({ csrf: auth.csrfFor(value), next, error: 'That token is not right.' }),
    );
  }
  const session = auth.signIn();
  ctx.logger.info({ dashboard: 'sign-in' }, 'dashboard: signed in');
  return d.redirect(next, [auth.setCookie(session.value, session.maxAgeS)]);
}

export function signOut(d: Dashboard, cookie: string | undefined): Response {
  if (d.open) return d.redirect('/');
  d.auth.signOut(cookie);
  d.ctx.logger.info({ dashboard: 'sign-out' }, 'dashboard: signed out');
  return d.redirect('/sign-in', [d.auth.clearCookie()]);
}
