// Helpers for driving the sandbox's consent pages: over plain HTTP the way a browser would (forms parsed out of
// the HTML, cookies carried by hand, redirects never followed), and with a real Chromium for what only a
// browser enforces (framing, cookie flags, the redirect chain).

import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Sandbox } from '../../src/sandbox/index.js';

// --- HTTP, as a browser would --------------------------------------------------------------------------

export interface PageResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Raw Set-Cookie lines. */
  cookies: string[];
  location: string | null;
}

/** One request to a page; redirects are returned, never followed. A `form` is sent urlencoded. */
export async function fetchPage(
  url: string,
  init: { method?: string; form?: URLSearchParams | Record<string, string>; cookie?: string } = {},
): Promise<PageResponse> {
  const headers: Record<string, string> = { 'user-agent': 'noon-connect-tests/1.0' };
  if (init.cookie) headers.cookie = init.cookie;
  let body: string | undefined;
  if (init.form !== undefined) {
    body = (init.form instanceof URLSearchParams ? init.form : new URLSearchParams(init.form)).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body !== undefined ? { body } : {}),
    redirect: 'manual',
  });
  return {
    status: res.status,
    headers: res.headers,
    text: await res.text(),
    cookies: res.headers.getSetCookie(),
    location: res.headers.get('location'),
  };
}

/** The authorize URL (NC16) with the given parameters, in order; repeats are kept as given. */
export function authorizeUrl(sb: Sandbox, params: Record<string, string> | [string, string][]): string {
  return `${sb.authorizeUrl}?${new URLSearchParams(params).toString()}`;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ENTITIES[e] ?? '');
}

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([a-zA-Z_:][\w:.-]*)(?:\s*=\s*"([^"]*)")?/g)) {
    const name = m[1]!.toLowerCase();
    if (!out.has(name)) out.set(name, decodeEntities(m[2] ?? ''));
  }
  return out;
}

export interface ParsedForm {
  action: string;
  method: string;
  /** Hidden fields and checked radios, in document order. */
  fields: [string, string][];
  /** Submit buttons that carry a name, as [name, value]. */
  buttons: [string, string][];
  /** Every radio offered, checked or not, as [name, value]. */
  radios: [string, string][];
}

/** Every form in a page, read the way a browser would submit it. */
export function formsIn(html: string): ParsedForm[] {
  const forms: ParsedForm[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[1]!);
    const form: ParsedForm = {
      action: attrs.get('action') ?? '',
      method: (attrs.get('method') ?? 'get').toUpperCase(),
      fields: [],
      buttons: [],
      radios: [],
    };
    for (const el of m[2]!.matchAll(/<(input|button)\b([^>]*)>/gi)) {
      const a = attributes(el[2]!);
      const name = a.get('name');
      if (!name) continue;
      const value = a.get('value') ?? '';
      if (el[1]!.toLowerCase() === 'button') form.buttons.push([name, value]);
      else if (a.get('type') === 'hidden') form.fields.push([name, value]);
      else if (a.get('type') === 'radio') {
        form.radios.push([name, value]);
        if (a.has('checked')) form.fields.push([name, value]);
      }
    }
    forms.push(form);
  }
  return forms;
}

/** The one form that posts to `action`; throws when there is none or more than one. */
export function formFor(html: string, action: string): ParsedForm {
  const found = formsIn(html).filter((f) => f.action === action && !f.fields.some(([n]) => n === 'signout'));
  if (found.length !== 1) throw new Error(`expected one form posting to ${action}, found ${found.length}`);
  return found[0]!;
}

/** The Cookie header a browser would send back for these Set-Cookie lines. */
export function cookieHeader(setCookies: string[]): string {
  return setCookies.map((c) => c.split(';')[0]!).join('; ');
}

/** Signs a seller in through the sign-in form on the authorize page; returns the seller's Cookie header. */
export async function signInSeller(
  sb: Sandbox,
  url: string,
  seller: { email: string; password: string },
): Promise<string> {
  const page = await fetchPage(url);
  if (page.status !== 200) throw new Error(`sign-in page: ${page.status}`);
  const form = formFor(page.text, '/oauth/signin');
  const body = new URLSearchParams(form.fields);
  body.set('email', seller.email);
  body.set('password', seller.password);
  const res = await fetchPage(sb.url + form.action, { form: body });
  if (res.status !== 303) throw new Error(`sign-in: ${res.status}`);
  return cookieHeader(res.cookies);
}

/** Opens the consent page as a signed-in seller and returns it with its decide form. */
export async function openConsent(
  url: string,
  cookie: string,
): Promise<{ page: PageResponse; form: ParsedForm }> {
  const page = await fetchPage(url, { cookie });
  if (page.status !== 200) throw new Error(`consent page: ${page.status}`);
  return { page, form: formFor(page.text, '/oauth/decide') };
}

/** Submits the decide form as the page would, with fields replaced (a value) or dropped (undefined). */
export function decide(
  sb: Sandbox,
  form: ParsedForm,
  cookie: string,
  decision: 'approve' | 'deny',
  change: Record<string, string | undefined> = {},
): Promise<PageResponse> {
  const body = new URLSearchParams(form.fields);
  body.set('decision', decision);
  for (const [k, v] of Object.entries(change)) {
    if (v === undefined) body.delete(k);
    else body.set(k, v);
  }
  return fetchPage(sb.url + form.action, { form: body, cookie });
}

// --- a real browser ----------------------------------------------------------------------------------------

/** Debian's Chromium; the tests never download a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
];

/**
 * Whether the browser tests run. Without Chromium they are skipped on a developer machine (with one line saying
 * how to enable them) but must run in CI, where a missing browser is a failure, not a skip.
 */
export function browserTestsEnabled(): boolean {
  if (existsSync(CHROMIUM_PATH) || process.env.CI) return true;
  console.warn(
    `browser tests skipped: ${CHROMIUM_PATH} not found; enable them with \`apt-get install chromium\` (they always run when CI is set)`,
  );
  return false;
}

/** Fails with the fix spelled out when the browser tests must run (CI) but Chromium is missing. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} is missing and CI is set: install it with \`apt-get install chromium\``,
    );
  }
}

// --- small servers for the browser to land on ----------------------------------------------------------

export interface LittleServer {
  /** e.g. http://127.0.0.1:40123 */
  origin: string;
  port: number;
  requests: { url: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

/**
 * A node:http server answering every GET with `page(url)` as HTML, recording what it received (a callback
 * receiver, or a third-party site that frames the consent page).
 */
export async function littleServer(
  host: string,
  page: (url: URL) => string = () => '<!doctype html><title>received</title><p>received</p>',
): Promise<LittleServer> {
  const requests: LittleServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? host}`);
    requests.push({ url: url.toString(), headers: req.headers });
    if (url.pathname === '/favicon.ico') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page(url));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host === 'localhost' ? '127.0.0.1' : host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://${host}:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
