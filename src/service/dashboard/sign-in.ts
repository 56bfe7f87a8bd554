// Signing in to the dashboard with the admin token (or, in dev mode without one, with the link printed at start),
// and signing out. Every try is counted in the store before the token is judged: per client address, and overall
// for addresses that have not signed in before, so neither fresh cookies nor many addresses buy more guesses,
// and the real admin is never kept out: a browser that signed in before has its own budget (a signed mark it got at
// sign-in); from an address it signed in from, it skips the overall limit.

import { sessionActor } from './auth.js';
import type { Dashboard } from './context.js';
import { signInBody } from './pages.js';
import { safeNext } from './routes.js';

/** Tries one client address may make per window. */
export const SIGN_IN_TRIES_PER_ADDRESS = 10;
/** Tries all addresses that never signed in may make together per window. */
export const SIGN_IN_TRIES_OVERALL = 100;
export const SIGN_IN_WINDOW_MS = 60_000;
/** An address that signed in is known this long (a 30-day window and the one before). */
const KNOWN_ADDRESS_MS = 30 * 24 * 60 * 60_000;

/**
 * Counts one try; the refusal when a limit is reached (the token is then not judged at all). A browser that
 * signed in before (its known-browser mark) has a budget of its own, so no number of guesses from other browsers,
 * addresses or one shared proxy address keeps the admin out.
 */
async function tryRefused(
  d: Dashboard,
  address: string,
  knownBrowser: string | undefined,
): Promise<string | undefined> {
  const { limits } = d.ctx;
  if (knownBrowser !== undefined) {
    const mine = await limits.hit(
      `signin:browser:${knownBrowser}`,
      SIGN_IN_TRIES_PER_ADDRESS,
      SIGN_IN_WINDOW_MS,
    );
    return mine.allowed
      ? undefined
      : 'Too many sign-in attempts from this browser. Wait a minute, then try again.';
  }
  const own = await limits.hit(`signin:addr:${address}`, SIGN_IN_TRIES_PER_ADDRESS, SIGN_IN_WINDOW_MS);
  if (!own.allowed) return 'Too many sign-in attempts from your address. Wait a minute, then try again.';
  // An address the admin signed in from before is not held back by guesses from elsewhere.
  if (await limits.seen(`signin:known:${address}`, KNOWN_ADDRESS_MS)) return undefined;
  const all = await limits.hit('signin:all', SIGN_IN_TRIES_OVERALL, SIGN_IN_WINDOW_MS);
  if (!all.allowed) return 'Sign-in is paused after many wrong tokens. Wait a minute, then try again.';
  return undefined;
}

export async function signIn(
  d: Dashboard,
  o: {
    request: Request;
    url: URL;
    method: 'GET' | 'POST';
    form: URLSearchParams;
    cookie: string | undefined;
  },
): Promise<Response> {
  const { auth, ctx } = d;
  const next = safeNext(o.method === 'POST' ? o.form.get('next') : o.url.searchParams.get('next'));
  if (await auth.isSignedIn(o.cookie)) return d.redirect(next);
  const cookies: string[] = [];
  let value = o.cookie;
  if (!value) {
    value = auth.newCookieValue();
    cookies.push(auth.setCookie(value));
  }
  // Dev mode without an admin token: the link printed at start carries the token (`/sign-in?token=…`, as
  // Jupyter does); the answer is a redirect to a clean URL, so it stays in no history and no Referer.
  const linkToken = d.dev && o.method === 'GET' ? o.url.searchParams.get('token') : null;
  if (o.method === 'GET' && linkToken === null)
    return d.bare(200, 'Sign in', signInBody({ csrf: auth.csrfFor(value), next, dev: d.dev }), cookies);
  const address = ctx.clientAddress(o.request);
  const refused = await tryRefused(d, address, auth.knownBrowser(o.request));
  if (refused) {
    ctx.logger.warn({ dashboard: 'sign-in' }, 'dashboard: sign-in refused (too many tries)');
    return d.bare(
      429,
      'Sign in',
      signInBody({ csrf: auth.csrfFor(value), next, dev: d.dev, error: refused }),
      cookies,
    );
  }
  const presented = (linkToken ?? o.form.get('token') ?? '').trim();
  if (!auth.checkAdminToken(presented)) {
    ctx.logger.warn({ dashboard: 'sign-in' }, 'dashboard: wrong admin token');
    // A short pause on every wrong token slows guessing further.
    await new Promise((r) => setTimeout(r, 200));
    return d.bare(
      401,
      'Sign in',
      signInBody({ csrf: auth.csrfFor(value), next, dev: d.dev, error: 'That token is not right.' }),
      cookies,
    );
  }
  await ctx.limits.mark(`signin:known:${address}`, KNOWN_ADDRESS_MS);
  const session = await auth.signIn();
  ctx.logger.info({ dashboard: 'sign-in' }, 'dashboard: signed in');
  await ctx.audit({ actor: sessionActor(session.value), action: 'sign-in', outcome: 'ok' });
  const mark = auth.knownBrowser(o.request) === undefined ? [auth.knownBrowserMark().setCookie] : [];
  return d.redirect(next, [auth.setCookie(session.value, session.maxAgeS), ...mark]);
}

export async function signOut(d: Dashboard, cookie: string | undefined): Promise<Response> {
  await d.auth.signOut(cookie);
  if (cookie) await d.ctx.audit({ actor: sessionActor(cookie), action: 'sign-out', outcome: 'ok' });
  d.ctx.logger.info({ dashboard: 'sign-out' }, 'dashboard: signed out');
  return d.redirect('/sign-in', [d.auth.clearCookie()]);
}
