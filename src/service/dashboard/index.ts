// The server-rendered dashboard (admin sign-in, CSRF-protected forms, no secrets shown). Plain HTML forms, no
// script and no external asset; every action is a POST answered by a 303 to a page showing its result once.
// This file is the pipeline every request goes through: route, method, gate, form, sign-in, session, page.

import type { RouteHandler, ServiceContext } from '../service.js';
import { connectionAction, connectSeller, reconnect, resolveKeptAnswer } from './actions.js';
import { createDashboard, type Dashboard, startVisit, type Visit } from './context.js';
import { page } from './html.js';
import { messageBody } from './pages.js';
import { type DashboardRoute, matchRoute } from './routes.js';
import {
  attemptsPage,
  attentionPage,
  confirmDisconnectPage,
  connectionNotFound,
  connectionPage,
  eventsPage,
  homePage,
} from './screens.js';
import { checkedForm, offMachineRefusal, requireSession } from './security.js';
import { signIn, signOut } from './sign-in.js';
import { auditPage, createTokenAction, revokeTokenAction, tokensPage } from './tokens.js';

function methodNotAllowed(d: Dashboard, route: DashboardRoute): Response {
  return d.respond(
    405,
    page({
      title: 'Method not allowed',
      chrome: 'bare',
      body: messageBody('Method not allowed', `This address answers ${route.methods.join(' and ')} only.`, {
        href: '/',
        label: 'Go to the dashboard',
      }),
    }),
    [],
    { allow: route.methods.join(', ') },
  );
}

/** A signed-in request, to the page or action its route names. */
async function answer(v: Visit): Promise<Response> {
  switch (v.route.name) {
    case 'home':
      return homePage(v);
    case 'attempts':
      return attemptsPage(v);
    case 'attention':
      return attentionPage(v);
    case 'events':
      return eventsPage(v);
    case 'connect-seller':
      return connectSeller(v);
    case 'resolve':
      return resolveKeptAnswer(v, v.route.id!);
    case 'tokens':
      return v.method === 'GET' ? tokensPage(v) : createTokenAction(v);
    case 'token-revoke':
      return revokeTokenAction(v, v.route.id!);
    case 'audit':
      return auditPage(v);
    default:
      break;
  }
  // --- one connection ---
  const c = await v.d.ctx.store.getConnection(v.route.id!);
  if (!c) return connectionNotFound(v);
  switch (v.route.name) {
    case 'connection':
      return connectionPage(v, c);
    case 'reconnect':
      return reconnect(v, c);
    case 'disconnect':
      return v.method === 'GET' ? confirmDisconnectPage(v, c) : connectionAction(v, c, 'disconnect');
    case 'test':
    case 'rotate':
      return connectionAction(v, c, v.route.name);
    default:
      // sign-in and sign-out never get here.
      return connectionNotFound(v);
  }
}

/** The handler of every dashboard address; other paths answer undefined (left to the next handler). */
export function createDashboardHandler(ctx: ServiceContext): RouteHandler {
  const d = createDashboard(ctx);
  return async (request) => {
    const url = new URL(request.url);
    const route = matchRoute(url.pathname);
    if (!route) return undefined;
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    if (method !== 'GET' && method !== 'POST') return methodNotAllowed(d, route);
    if (!route.methods.includes(method)) return methodNotAllowed(d, route);
    const refused = offMachineRefusal(d, request);
    if (refused) return refused;

    const cookie = d.auth.readCookie(request);
    let form = new URLSearchParams();
    if (method === 'POST') {
      const checked = await checkedForm(d, request, route, cookie);
      if (checked instanceof Response) return checked;
      form = checked;
    }
    if (route.name === 'sign-in') return signIn(d, { request, url, method, form, cookie });
    if (route.name === 'sign-out') return signOut(d, cookie);

    // Everything else needs a session (or the open dev mode).
    const session = await requireSession(d, request, url, method, cookie);
    if (session instanceof Response) return session;
    // A message left by the action before (on whichever instance) is taken from the store for this page.
    if (method === 'GET') await d.auth.loadFlash(session.cookie);
    try {
      return await answer(startVisit(d, { url, route, method, form, ...session }));
    } finally {
      d.auth.forgetFlash(session.cookie);
    }
  };
}
