// One behaviour suite for the connect endpoints, run through every framework adapter: node:http, Express 5,
// Fastify 5 and Hono 4 (on a node:http bridge). Whatever the framework, the browser must see the same flow,
// the same cookies, the same status codes and the same security headers.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectHandler, StartParams } from '../../src/http/handler.js';
import { toWebRequest } from '../../src/http/node.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { ADAPTER_TARGETS, type AdapterTarget, APP_BODY, APP_ROUTE } from '../helpers/adapters.js';
import { type Stack, stackSecrets, startStack } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { Browser, connectThrough, freshSeller } from '../helpers/seller-flow.js';

/** A cookie of the app's own, added to the start redirect, to see that adapters keep Set-Cookie headers apart. */
const APP_COOKIE = 'app_pref=compact; Path=/; SameSite=Lax';

function withAppCookie(h: ConnectHandler): ConnectHandler {
  return async (req) => {
    const r = await h(req);
    if (r && new URL(req.url).pathname === '/connect/start') r.headers.append('set-cookie', APP_COOKIE);
    return r;
  };
}

/** A state of the right shape that this connector never issued. */
function forgedState(): string {
  const part = () => Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
  return `${part()}.${part()}.${part()}`;
}

function expectPageHeaders(r: { headers: Headers }): void {
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.headers.get('x-frame-options')).toBe('DENY');
  expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
}

/**
 * The integrator's own decision of who connects: a GET names the tenant in the query (tests only), a POST in
 * its form body, which is read through whichever adapter serves the request. A body over the adapter's limit
 * is answered 413.
 */
async function startFromQueryOrForm(req: Request): Promise<StartParams | Response> {
  const u = new URL(req.url);
  if (req.method === 'POST') {
    let form: URLSearchParams;
    try {
      form = new URLSearchParams(await req.text());
    } catch {
      return new Response('body too large', { status: 413 });
    }
    return { tenant: form.get('tenant') ?? 'missing', returnTo: form.get('return_to') ?? '/' };
  }
  return {
    tenant: u.searchParams.get('tenant') ?? 'tenant-1',
    returnTo: u.searchParams.get('return_to') ?? '/',
  };
}

let seq = 0;
let sb: Sandbox;

/** The behaviour every adapter must show; `target` serves the connect handler in its framework. */
function adapterSuite(target: AdapterTarget): void {
  describe(`through the ${target.name} adapter`, () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({
        target,
        sandbox: sb,
        wrapHandler: withAppCookie,
        authorizeStart: startFromQueryOrForm,
      });
    });
    afterAll(async () => {
      await stack?.close();
    });

    const newSeller = () => freshSeller(sb, 'A').projectCode;

    it(`C6 C8 NC20 ${target.name}: full connect (start → consent → callback) ends in a 303 to a clean URL with the connection stored`, async () => {
      const p = newSeller();
      const browser = new Browser();
      const run = await connectThrough(stack, { projectCode: p, browser, tenant: 'tenant-a' });
      expect(run.start.status).toBe(303);
      expect(run.authorizeUrl.origin).toBe(new URL(sb.authorizeUrl).origin);
      expect(run.authorizeUrl.searchParams.get('client_id')).toBe(stack.clientId);
      expect(run.callback.status).toBe(303);
      const loc = run.callback.headers.get('location')!;
      expect(loc).toBe(`/connect/done/${run.attemptId}`);
      expect(loc).not.toContain(run.code);
      expect(loc).not.toContain(run.state);
      expectPageHeaders(run.callback);
      expect(run.callback.text).toBe('');
      const conns = await stack.connector.listConnections({ tenant: 'tenant-a' });
      expect(conns.map((c) => [c.sellerProject, c.status])).toContainEqual([p, 'active']);
      const ledger = sb.ledger.entries({ via: 'exchange' }).filter((e) => e.sellerProject === p);
      expect(ledger).toHaveLength(1);
      expect(ledger[0]!.keyId).toBe(conns.find((c) => c.sellerProject === p)!.keyId);
    });

    it(`C8 ${target.name}: the binding cookie keeps its flags and a second Set-Cookie stays a separate header`, async () => {
      const browser = new Browser();
      const start = await browser.get(`${stack.origin}/connect/start?tenant=tenant-a`);
      expect(start.status).toBe(303);
      expectPageHeaders(start);
      const cookies = start.headers.getSetCookie();
      expect(cookies).toHaveLength(2);
      const binding = cookies.find((c) => c.startsWith('nc_bind='))!;
      expect(binding).toBeDefined();
      const attrs = binding.split(';').map((s) => s.trim().toLowerCase());
      expect(attrs).toContain('httponly');
      expect(attrs).toContain('samesite=lax');
      expect(attrs).toContain('path=/');
      const maxAge = Number(attrs.find((a) => a.startsWith('max-age='))!.slice('max-age='.length));
      expect(maxAge).toBeGreaterThan(0);
      expect(maxAge).toBeLessThanOrEqual(600);
      // http public URL: no Secure and no __Host- prefix (those need https).
      expect(attrs).not.toContain('secure');
      expect(cookies).toContain(APP_COOKIE);
      // The binding value is the one the state was bound to: a callback with it passes the binding check.
      const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
      const { code } = sb.authorize({ clientId: stack.clientId, state, projectCode: newSeller() });
      const cb = await browser.get(`${stack.callbackUrl}?code=${encodeURIComponent(code)}&state=${state}`);
      expect(cb.status).toBe(303);
    });

    it(`C5 ${target.name}: POST and PUT to the callback answer 405 with Allow: GET and call nothing upstream`, async () => {
      const before = sb.journal.count({ endpoint: 'token.create' });
      for (const [method, body, type] of [
        ['POST', 'code=x&state=y', 'application/x-www-form-urlencoded'],
        ['POST', '{"code":"x"}', 'application/json'],
        ['PUT', 'x', 'text/plain'],
        ['POST', undefined, undefined],
      ] as const) {
        const r = await fetch(`${stack.callbackUrl}?code=abc&state=${forgedState()}`, {
          method,
          redirect: 'manual',
          ...(body !== undefined ? { body, headers: { 'content-type': type! } } : {}),
        });
        expect(r.status, `${method} ${type}`).toBe(405);
        expect(r.headers.get('allow')).toBe('GET');
        expectPageHeaders(r);
        expect(await r.text()).toContain('only answers the redirect from noon');
      }
      expect(sb.journal.count({ endpoint: 'token.create' })).toBe(before);
    });

    it(`S2 C4 ${target.name}: a forged callback gets the 400 page before any store access, nothing upstream, no secret shown`, async () => {
      const before = sb.journal.count({ endpoint: 'token.create' });
      const attemptsBefore = (await stack.store.listAttempts({})).length;
      const browser = new Browser();
      await browser.get(`${stack.origin}/connect/start?tenant=tenant-a`); // a real binding cookie
      const code = `forged-code-${target.name}-${++seq}`;
      const state = forgedState();
      for (const url of [
        `${stack.callbackUrl}?code=${code}&state=${state}`,
        `${stack.callbackUrl}?code=${code}`,
        `${stack.callbackUrl}?code=${code}&state=${state}&state=${state}`,
        `${stack.callbackUrl}?code=${code}&state=%00${state.slice(3)}`,
      ]) {
        const r = await browser.get(url);
        expect(r.status, url).toBe(400);
        expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expectPageHeaders(r);
        const page = await r.text();
        expect(page).toContain('This connect link is not valid');
        expect(page).not.toContain(code);
        expect(page).not.toContain(state);
        for (const s of stackSecrets(stack)) expect(page).not.toContain(s);
      }
      expect(sb.journal.count({ endpoint: 'token.create' })).toBe(before);
      // Only the start above added an attempt; the forged callbacks added or consumed nothing.
      const attempts = await stack.store.listAttempts({});
      expect(attempts.length).toBe(attemptsBefore + 1);
      expect(attempts.every((a) => a.consumedAt === null || a.status !== 'STARTED')).toBe(true);
    });

    it(`C6 ${target.name}: the done page says connected, with the page headers; an unknown attempt is a 404 page`, async () => {
      const p = newSeller();
      const run = await connectThrough(stack, { projectCode: p, tenant: 'tenant-a' });
      const done = await fetch(`${stack.origin}/connect/done/${run.attemptId}`);
      expect(done.status).toBe(200);
      expectPageHeaders(done);
      const page = await done.text();
      expect(page).toContain('Connected');
      expect(page).toContain(`Your noon project ${p} is connected.`);
      const unknown = await fetch(`${stack.origin}/connect/done/00000000-0000-4000-8000-000000000000`);
      expect(unknown.status).toBe(404);
      expectPageHeaders(unknown);
      expect(await unknown.text()).toContain('No such connection attempt.');
      // A refresh of the callback after success: "already connected", nothing more upstream (S6).
      const creates = sb.journal.count({ endpoint: 'token.create' });
      const again = await fetch(run.callbackUrl, {
        redirect: 'manual',
        headers: { cookie: `nc_bind=${/nc_bind=([^;]+)/.exec(run.start.headers.get('set-cookie')!)![1]}` },
      });
      expect(again.status).toBe(200);
      expect(await again.text()).toContain('Already connected');
      expect(sb.journal.count({ endpoint: 'token.create' })).toBe(creates);
    });

    it(`C6 C7 ${target.name}: an allow-listed return path gets the 303 with the attempt; a foreign one is refused at start`, async () => {
      const p = newSeller();
      const run = await connectThrough(stack, { projectCode: p, tenant: 'tenant-a', returnTo: '/settings' });
      expect(run.callback.status).toBe(303);
      const loc = new URL(run.callback.headers.get('location')!, 'http://x.invalid');
      expect(loc.pathname).toBe('/settings');
      expect(loc.searchParams.get('connect_status')).toBe('connected');
      expect(loc.searchParams.get('connect_attempt')).toBe(run.attemptId);
      expect([...loc.searchParams.keys()].sort()).toEqual(['connect_attempt', 'connect_status']);
      const bad = await fetch(
        `${stack.origin}/connect/start?tenant=tenant-a&return_to=${encodeURIComponent('//evil.example')}`,
        { redirect: 'manual' },
      );
      expect(bad.status).toBe(400);
      expect(bad.headers.get('location')).toBeNull();
      expectPageHeaders(bad);
    });

    it(`${target.name}: paths outside the connect endpoints fall through to the framework (its own route, else 404)`, async () => {
      const own = await fetch(`${stack.origin}${APP_ROUTE}`);
      expect(own.status).toBe(200);
      expect(await own.text()).toBe(APP_BODY);
      for (const path of ['/elsewhere', '/connect', '/connect/unknown', '/connectx/start']) {
        const r = await fetch(`${stack.origin}${path}`, { redirect: 'manual' });
        expect(r.status, path).toBe(404);
        expect(r.headers.get('location')).toBeNull();
        await r.arrayBuffer();
      }
    });

    it(`C4 C5 ${target.name}: a 1 MB body posted to the callback is not read: 405, and the server keeps serving`, async () => {
      const before = sb.journal.count({ endpoint: 'token.create' });
      const r = await fetch(`${stack.callbackUrl}?code=abc&state=${forgedState()}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(1024 * 1024),
      });
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('GET');
      await r.arrayBuffer();
      const next = await fetch(`${stack.origin}${APP_ROUTE}`);
      expect(next.status).toBe(200);
      await next.arrayBuffer();
      expect(sb.journal.count({ endpoint: 'token.create' })).toBe(before);
    });

    it(`${target.name}: a form POST to start reaches the integrator's authorizeStart with its body; an oversized one is refused`, async () => {
      const browser = new Browser();
      const res = await fetch(`${stack.origin}/connect/start`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'tenant=tenant-form&return_to=%2Fsettings',
      });
      expect(res.status).toBe(303);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('nc_bind='))).toBe(true);
      const state = new URL(res.headers.get('location')!).searchParams.get('state')!;
      const attempts = await stack.store.listAttempts({ tenant: 'tenant-form' });
      expect(attempts.some((a) => a.returnTo === '/settings' && a.status === 'STARTED')).toBe(true);
      expect(state).toHaveLength(68);
      void browser;
      const big = await fetch(`${stack.origin}/connect/start`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `tenant=tenant-big&pad=${'x'.repeat(200 * 1024)}`,
      });
      expect(big.status).toBe(413);
      await big.arrayBuffer();
      expect(await stack.store.listAttempts({ tenant: 'tenant-big' })).toHaveLength(0);
    });

    it(`C5 ${target.name}: start refuses other methods with 405 and Allow: GET, POST`, async () => {
      const r = await fetch(`${stack.origin}/connect/start?tenant=tenant-a`, { method: 'DELETE' });
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, POST');
      expectPageHeaders(r);
    });
  });
}

describe('node:http conversion', () => {
  it('a converted request behaves as a Fetch Request: instanceof, headers, url, body on demand, clone, new Request(it)', async () => {
    const results: unknown[] = [];
    const server = createServer((req, res) => {
      void (async () => {
        const r = await toWebRequest(req, 'http://app.example');
        const copy = new Request(r);
        results.push({
          isRequest: r instanceof Request,
          tag: Object.prototype.toString.call(r),
          method: r.method,
          url: r.url,
          header: r.headers.get('x-test'),
          copyUrl: copy.url,
          copyMethod: copy.method,
          copyHeader: copy.headers.get('x-test'),
          body: await copy.text(),
          signal: r.signal instanceof AbortSignal,
        });
        res.end('ok');
      })().catch((e: Error) => {
        results.push({ error: e.message });
        res.end('error');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      await (
        await fetch(`http://127.0.0.1:${port}/a/b?c=d`, {
          method: 'POST',
          headers: { 'x-test': 'yes', 'content-type': 'text/plain' },
          body: 'hello body',
        })
      ).text();
    } finally {
      server.close();
    }
    expect(results).toEqual([
      {
        isRequest: true,
        tag: '[object Request]',
        method: 'POST',
        url: 'http://app.example/a/b?c=d',
        header: 'yes',
        copyUrl: 'http://app.example/a/b?c=d',
        copyMethod: 'POST',
        copyHeader: 'yes',
        body: 'hello body',
        signal: true,
      },
    ]);
  });
});

beforeAll(async () => {
  sb = await startSandbox({ poolSize: 8 });
});
afterAll(async () => {
  await sb?.close();
});

describe('connect endpoints through every framework adapter', () => {
  for (const target of ADAPTER_TARGETS) adapterSuite(target);
});
