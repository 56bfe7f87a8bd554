// The consent page on the authorize host (NC16–NC21): the seller signs in, sees the application and its
// permission, picks a project, and approves or denies. Bad requests get an error page, never a redirect (NC18).

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from '../context.js';
import { html, redirect, type SandboxRequest, type SandboxResponse, serializeCookie } from '../http.js';
import { CODE_TTL_MS, type OAuthClient, type OAuthRequest, type Seller } from '../model.js';
import { errorPage, h, hidden, layout, PAGE_HEADERS, raw } from '../pages.js';
import { sha256Hex, type World } from '../world.js';

const MAX_STATE = 512;
const SELLER_COOKIE = 'sbx_seller';
const SELLER_SESSION_MS = 12 * 3600_000;

interface SellerSession {
  id: string;
  email: string;
  expiresAt: number;
}

interface AuthorizeParams {
  client: OAuthClient;
  state: string;
  redirectUri: string;
  /** The redirect_uri as the URL carried it, to carry it on through the forms. */
  redirectUriParam: string | undefined;
}

function page(status: number, body: string, extra: Record<string, string | string[]> = {}): SandboxResponse {
  return html(status, body, { ...PAGE_HEADERS, ...extra });
}

/** A field given at most once: undefined when absent, null when repeated (a repeated field is refused, NC18). */
function single(params: URLSearchParams, name: string): string | undefined | null {
  const all = params.getAll(name);
  if (all.length > 1) return null;
  return all[0];
}

/** Validates the authorize parameters; a string is the error to show. */
function authorizeParams(params: URLSearchParams, ctx: Context): AuthorizeParams | string {
  const clientId = single(params, 'client_id');
  const state = single(params, 'state');
  // With the switch off the parameter is ignored altogether, repeated or not (NC15).
  const redirectUriParam = ctx.switches.redirectUriParam ? single(params, 'redirect_uri') : undefined;
  if (clientId === null || state === null || redirectUriParam === null)
    return 'A parameter was given more than once.';
  if (!clientId) return 'The link is missing the application (client_id).';
  const client = ctx.world.clients.get(clientId);
  if (!client) return 'This application is not known to noon.';
  if (!state) return 'The link is missing its state parameter.';
  if (state.length > MAX_STATE) return 'The state parameter is too long.';
  let redirectUri = client.redirectUris[0];
  if (redirectUriParam !== undefined) {
    // NC15: only an exact match of a registered URI; no normalisation of case, slash, port or query.
    if (!client.redirectUris.includes(redirectUriParam))
      return 'The redirect address is not registered for this application.';
    redirectUri = redirectUriParam;
  }
  if (!redirectUri) return 'This application has no registered redirect address.';
  return { client, state, redirectUri, redirectUriParam };
}

function sellerSession(
  req: SandboxRequest,
  ctx: Context,
): { session: SellerSession; seller: Seller } | undefined {
  const id = req.cookies.get(SELLER_COOKIE);
  if (!id) return undefined;
  const key = `seller-session:${sha256Hex(id)}`;
  const session = ctx.world.meta.get(key);
  if (!session) return undefined;
  const s = JSON.parse(session) as SellerSession;
  if (ctx.world.clock.now() >= s.expiresAt) {
    ctx.world.meta.delete(key);
    return undefined;
  }
  const seller = ctx.world.sellers.get(s.email);
  return seller ? { session: { ...s, id }, seller } : undefined;
}

function csrfToken(ctx: Context, sessionId: string, p: AuthorizeParams): string {
  return createHmac('sha256', ctx.csrfSecret)
    .update(`${sessionId}\n${p.client.clientId}\n${p.state}\n${p.redirectUri}`)
    .digest('base64url');
}

function csrfMatches(expected: string, presented: string | null): boolean {
  if (!presented) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

function appendQuery(uri: string, fields: Record<string, string>): string {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(fields)) u.searchParams.append(k, v);
  return u.toString();
}

/** Creates a code for an approved request; shared by the consent form and the admin API. */
export function issueCode(
  world: World,
  client: OAuthClient,
  seller: Seller,
  projectCode: string,
  redirectUri: string,
  state: string,
): { code: string; location: string; oauthRequestId: string } {
  const now = world.clock.now();
  const code = world.secret();
  const request: OAuthRequest = {
    id: world.random.uuid(),
    clientId: client.clientId,
    sellerProject: projectCode,
    integratorProject: client.projectCode,
    status: 'AUTHORIZED',
    createdAt: now,
    updatedAt: now,
  };
  world.requests.put(request.id, request);
  world.codes.put(sha256Hex(code), {
    hash: sha256Hex(code),
    clientId: client.clientId,
    sellerProject: projectCode,
    sellerEmail: seller.email,
    redirectUri,
    oauthRequestId: request.id,
    createdAt: now,
    expiresAt: now + CODE_TTL_MS,
  });
  return { code, location: appendQuery(redirectUri, { code, state }), oauthRequestId: request.id };
}

/** Records a denied request and returns where the seller goes back to (NC21); shared by the form and the admin API. */
export function issueDenial(
  world: World,
  client: OAuthClient,
  projectCode: string,
  redirectUri: string,
  state: string,
): { location: string } {
  recordDenial(world, client, projectCode);
  return { location: appendQuery(redirectUri, { error: 'access_denied', state }) };
}

export function recordDenial(world: World, client: OAuthClient, projectCode: string): void {
  const now = world.clock.now();
  const id = world.random.uuid();
  world.requests.put(id, {
    id,
    clientId: client.clientId,
    sellerProject: projectCode,
    integratorProject: client.projectCode,
    status: 'DENIED',
    createdAt: now,
    updatedAt: now,
  });
}

function carried(p: AuthorizeParams): Record<string, string | undefined> {
  return { client_id: p.client.clientId, state: p.state, redirect_uri: p.redirectUriParam };
}

/** Where the seller goes next, as they would read it: scheme, host and port, without path or query. */
function destination(uri: string): string {
  return new URL(uri).origin;
}

function signInPage(p: AuthorizeParams, o: { error?: string; email?: string } = {}): string {
  // The email is kept after a failed attempt; the password never comes back into a page.
  return layout(
    'Sign in · noon partners',
    h`<h1>Sign in to continue to ${p.client.name}</h1>
<div class="card"><form method="post" action="/oauth/signin">${hidden(carried(p))}
${o.error ? raw(h`<p class="error" role="alert">${o.error}</p>`) : ''}
<label>Email <input type="email" name="email" value="${o.email ?? ''}" autocomplete="username" required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<div class="actions"><button class="primary" type="submit">Sign in</button></div></form>
<p class="muted">Sandbox sellers and their passwords are listed by <code>noon-connect sandbox</code> at start.</p></div>`,
  );
}

function consentPage(p: AuthorizeParams, seller: Seller, csrf: string, world: World): string {
  const options = seller.projects
    .map((code, i) => {
      const name = world.projects.get(code)?.name ?? code;
      return h`<label><input type="radio" name="project_code" value="${code}"${raw(i === 0 ? ' checked' : '')}><span>${name} <code>${code}</code></span></label>`;
    })
    .join('');
  return layout(
    'Allow access · noon partners',
    h`<h1>${p.client.name} wants access to your noon account</h1>
<div class="card"><p>Signed in as <strong>${seller.name}</strong> (${seller.email})</p>
<form method="post" action="/oauth/signin">${hidden({ ...carried(p), csrf, signout: '1' })}<button class="link" type="submit">Not you? Use another account</button></form>
<div class="perm"><p>Permission requested: <code>${p.client.permission}</code></p>
<p class="muted">${p.client.name} gets a service-account credential that can call noon's APIs for the project you
choose. You can remove it later in the Access App.</p></div>
<form method="post" action="/oauth/decide">${hidden({ ...carried(p), csrf })}
<fieldset><legend>Project to connect</legend>${raw(options)}</fieldset>
<div class="actions"><button class="primary" type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></div>
<p class="muted">Either way you go back to <code>${destination(p.redirectUri)}</code>.</p></form></div>`,
  );
}

export function consentGet(req: SandboxRequest, ctx: Context): SandboxResponse {
  const p = authorizeParams(req.query, ctx);
  if (typeof p === 'string') return page(400, errorPage('Cannot continue', p));
  const signedIn = sellerSession(req, ctx);
  if (!signedIn) return page(200, signInPage(p));
  return page(200, consentPage(p, signedIn.seller, csrfToken(ctx, signedIn.session.id, p), ctx.world));
}

function formParams(req: SandboxRequest): URLSearchParams {
  return new URLSearchParams(req.body.toString('utf8'));
}

function backToAuthorize(p: AuthorizeParams): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(carried(p))) if (v !== undefined) q.set(k, v);
  return `/?${q.toString()}`;
}

/** Ends the seller's sign-in ("use another account"); the CSRF token keeps other sites from signing them out. */
function signOut(
  req: SandboxRequest,
  ctx: Context,
  p: AuthorizeParams,
  form: URLSearchParams,
): SandboxResponse {
  const signedIn = sellerSession(req, ctx);
  if (signedIn) {
    if (!csrfMatches(csrfToken(ctx, signedIn.session.id, p), form.get('csrf'))) {
      return page(403, errorPage('Request refused', 'The form was not submitted from this page.'));
    }
    ctx.world.meta.delete(`seller-session:${sha256Hex(signedIn.session.id)}`);
  }
  const cookie = serializeCookie(SELLER_COOKIE, '', {
    httpOnly: true,
    sameSite: 'Lax',
    secure: req.secure,
    path: '/',
    maxAge: 0,
  });
  return redirect(backToAuthorize(p), { ...PAGE_HEADERS, 'set-cookie': cookie });
}

export function consentSignIn(req: SandboxRequest, ctx: Context): SandboxResponse {
  const form = formParams(req);
  const p = authorizeParams(form, ctx);
  if (typeof p === 'string') return page(400, errorPage('Cannot continue', p));
  if (form.has('signout')) return signOut(req, ctx, p, form);
  const email = (form.get('email') ?? '').trim().toLowerCase();
  const seller = ctx.world.sellers.get(email);
  const password = form.get('password') ?? '';
  // Compared through digests in constant time, and compared even for an unknown email, so the answer's timing
  // does not tell which sellers exist.
  const passwordOk = csrfMatches(
    sha256Hex(seller?.password ?? ctx.csrfSecret.toString('hex')),
    sha256Hex(password),
  );
  if (!seller || !passwordOk) {
    return page(401, signInPage(p, { error: 'Email or password is not right.', email: email.slice(0, 320) }));
  }
  const id = ctx.world.secret();
  const session: SellerSession = {
    id: '',
    email: seller.email,
    expiresAt: ctx.world.clock.now() + SELLER_SESSION_MS,
  };
  ctx.world.meta.put(`seller-session:${sha256Hex(id)}`, JSON.stringify(session));
  const cookie = serializeCookie(SELLER_COOKIE, id, {
    httpOnly: true,
    sameSite: 'Lax',
    secure: req.secure,
    path: '/',
    maxAge: SELLER_SESSION_MS / 1000,
  });
  return redirect(backToAuthorize(p), { ...PAGE_HEADERS, 'set-cookie': cookie });
}

export function consentDecide(req: SandboxRequest, ctx: Context): SandboxResponse {
  const form = formParams(req);
  const p = authorizeParams(form, ctx);
  if (typeof p === 'string') return page(400, errorPage('Cannot continue', p));
  const signedIn = sellerSession(req, ctx);
  if (!signedIn) return page(403, errorPage('Session ended', 'Sign in again to continue.'));
  // NC19: the approve/deny form carries its own CSRF token bound to the seller's sign-in and this request.
  if (!csrfMatches(csrfToken(ctx, signedIn.session.id, p), single(form, 'csrf') ?? null)) {
    return page(403, errorPage('Request refused', 'The form was not submitted from this page.'));
  }
  const decision = single(form, 'decision');
  const chosen = single(form, 'project_code');
  if (chosen === null) return page(400, errorPage('Cannot continue', 'Choose one project.'));
  const projectCode = chosen ?? '';
  if (decision === 'deny') {
    const denied = issueDenial(
      ctx.world,
      p.client,
      signedIn.seller.projects.includes(projectCode) ? projectCode : '',
      p.redirectUri,
      p.state,
    );
    return redirect(denied.location, { ...PAGE_HEADERS });
  }
  if (decision !== 'approve') return page(400, errorPage('Cannot continue', 'Choose Allow or Deny.'));
  if (!signedIn.seller.projects.includes(projectCode)) {
    return page(400, errorPage('Cannot continue', 'Choose one of your projects.'));
  }
  const { location } = issueCode(ctx.world, p.client, signedIn.seller, projectCode, p.redirectUri, p.state);
  return redirect(location, { ...PAGE_HEADERS });
}
