// What the callback accepts (C1–C8): Noon's error answers, hostile and oversized input, methods, the clean
// redirect after success, return paths at the start, and the binding cookie's flags — over real HTTP to the
// connect handler, with every store call recorded and the secret search after every test.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import type { Attempt } from '../../src/store/index.js';
import { methodsSince, type Received, type Stack, startStack, useFileStack } from '../helpers/harness.js';
import { type RawAnswer, rawGet, rawRequest } from '../helpers/raw-http.js';
import { Browser, freshSeller } from '../helpers/seller-flow.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let sb: Sandbox;
let stack: Stack;

// The secret search runs after every test, over everything captured so far.
useFileStack((s, st) => {
  sb = s;
  stack = st;
});

/** A started flow with its consent given: the state, a live code, the browser holding the binding cookie. */
async function ready(tenant: string, query: Record<string, string> = {}) {
  const seller = freshSeller(sb);
  const browser = new Browser();
  const { state } = await stack.start(browser, { tenant, ...query });
  const code = stack.authorize(state, { projectCode: seller.projectCode });
  const cookie = `nc_bind=${browser.cookies.get('nc_bind')}`;
  return { seller, browser, state, code, cookie };
}

async function attemptFor(state: string): Promise<Attempt | undefined> {
  const all = await stack.rawStore.listAttempts({ limit: 10_000 });
  return all.find((a) => a.stateHash === sha256(state));
}

function expectPage(r: Received, status: number): void {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^text\/html/);
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
  expect(r.location).toBeNull();
}

function expectConnected(r: Received): void {
  expect(r.status, r.text).toBe(303);
  expect(r.location).toMatch(/^\/(connect\/done\/[0-9a-f-]{36}|[^?]*\?connect_attempt=)/);
}

/** Raw answers are captured for the secret search like any page. */
function captureRaw(where: string, a: RawAnswer): RawAnswer {
  stack.search.capture(where, `${a.head}\r\n\r\n${a.body}`);
  return a;
}

/** Header lines of a raw response head, lower-cased names. */
function headerNames(head: string): string[] {
  return head
    .split('\r\n')
    .slice(1)
    .map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
}

describe('C1 C2 the seller says no', () => {
  it('C1 error=access_denied → friendly "not connected" page, state consumed, nothing upstream (a code sent later with it is not used)', async () => {
    const { browser, state, code } = await ready('tenant-c1');
    const mark = stack.journalMark();
    const res = await stack.request(
      browser,
      stack.callback([
        ['error', 'access_denied'],
        ['state', state],
      ]),
    );
    expectPage(res, 200);
    expect(res.text).toContain('Not connected');
    expect(res.text).toContain('You chose not to give access');
    expect(await attemptFor(state)).toMatchObject({ status: 'FAILED', errorCode: 'ACCESS_DENIED' });
    expect((await attemptFor(state))!.consumedAt).not.toBeNull();
    // The state is spent: the same state with a real code now gets the same answer and calls nothing.
    const again = await stack.request(browser, stack.codeCallback(code, state));
    expectPage(again, 200);
    expect(again.text).toContain('Not connected');
    expect(stack.upstreamSince(mark)).toEqual([]);
    expect(sb.world.codes.get(sha256(code))?.usedAt).toBeUndefined();
  });

  it('C2 error_description (and error, error_uri) carrying <script> are never shown raw: not reflected, the page runs no script', async () => {
    const payloads = [
      '<script>alert(1)</script>',
      '"><img src=x onerror=alert(2)>',
      "';alert(3);//",
      '</title><script>alert(4)</script>',
    ];
    for (const p of payloads) {
      const { browser, state } = await ready('tenant-c2');
      const mark = stack.journalMark();
      for (const error of ['access_denied', p]) {
        const res = await stack.request(
          browser,
          stack.callback([
            ['error', error],
            ['error_description', p],
            ['error_uri', `javascript:alert(5)//${p}`],
            ['state', state],
          ]),
        );
        expect(res.status).toBe(200);
        expect(res.text).toContain('Not connected');
        expect(res.text).not.toContain(p);
        expect(res.text).not.toMatch(/<script|onerror|javascript:|alert\(/i);
        expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      }
      expect(stack.upstreamSince(mark)).toEqual([]);
    }
  });
});

describe('C3 no code', () => {
  it('C3 a valid state with the code missing or empty → 400, the state burned (a real code afterwards is not used)', async () => {
    for (const pairs of [
      (s: string) => [['state', s]] as [string, string][],
      (s: string) =>
        [
          ['code', ''],
          ['state', s],
        ] as [string, string][],
    ]) {
      const { browser, state, code } = await ready('tenant-c3');
      const mark = stack.journalMark();
      const res = await stack.request(browser, stack.callback(pairs(state)));
      expectPage(res, 400);
      expect(await attemptFor(state)).toMatchObject({ status: 'FAILED', errorCode: 'NO_CODE' });
      const late = await stack.request(browser, stack.codeCallback(code, state));
      expect(late.status).toBe(400);
      expect(late.location).toBeNull();
      expect(stack.upstreamSince(mark)).toEqual([]);
      expect(sb.world.codes.get(sha256(code))?.usedAt).toBeUndefined();
    }
  });
});

describe('C4 oversized and hostile input', () => {
  it('C4 an 8 KB state, 1,000 parameters, NUL/CR/LF/TAB %-encoded, invalid UTF-8 → 400/414 before any store lookup; nothing reflected into headers; the real state still works afterwards', async () => {
    const { browser, state, code } = await ready('tenant-c4');
    const ok: [string, string][] = [
      ['code', code],
      ['state', state],
    ];
    const q = `code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`;
    const cases: [string, string, number[]][] = [
      ['8 KB state', `code=${code}&state=${'A'.repeat(8192)}`, [414]],
      ['8 KB state next to the real one', `${q}&state=${'A'.repeat(8192)}`, [414]],
      ['1,000 short parameters', `${q}${'&x'.repeat(998)}`, [400]],
      [
        '1,000 parameters, long form',
        `${q}${Array.from({ length: 998 }, (_, i) => `&p${i}=${i}`).join('')}`,
        [400, 414],
      ],
      ['%00 in the code', `code=${code}%00&state=${state}`, [400]],
      ['%00 in a field of its own', `${q}&x=%00`, [400]],
      ['%0d%0a header injection', `${q}&x=a%0d%0aSet-Cookie:%20pwned=1%0d%0aX-Evil:%201`, [400]],
      ['%0a alone', `${q}&x=%0aX-Evil:%201`, [400]],
      ['%0D alone', `${q}&x=%0DX-Evil:%201`, [400]],
      ['%09 tab', `${q}&x=%09`, [400]],
      ['%7f', `${q}&x=%7f`, [400]],
      ['%ff invalid UTF-8', `${q}&x=%ff`, [400]],
      ['%c3%28 invalid UTF-8', `${q}&x=%c3%28`, [400]],
      ['%ed%a0%80 a lone surrogate', `${q}&x=%ed%a0%80`, [400]],
      ['lone %', `${q}&x=%`, [400]],
      ['%zz', `${q}&x=%zz`, [400]],
      ['%ff in the state', `code=${code}&state=${state}%ff`, [400]],
    ];
    const mark = stack.journalMark();
    const from = stack.calls.length;
    for (const [what, query, statuses] of cases) {
      const res = await stack.request(browser, `${stack.callbackUrl}?${query}`);
      expect(statuses, `${what}: ${res.status}`).toContain(res.status);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('x-evil')).toBeNull();
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(res.location).toBeNull();
    }
    // The same, read off the wire: no injected header line in the response head.
    const raw = captureRaw(
      'raw %0d%0a',
      await rawRequest(
        stack.origin,
        rawGet(stack.origin, `/connect/callback?${q}&x=a%0d%0aSet-Cookie:%20pwned=1%0d%0aX-Evil:%201`, {
          Cookie: `nc_bind=${browser.cookies.get('nc_bind')}`,
        }),
      ),
    );
    expect(raw.status).toBe(400);
    expect(headerNames(raw.head)).not.toContain('x-evil');
    expect(headerNames(raw.head)).not.toContain('set-cookie');
    expect(methodsSince(stack, from)).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
    // None of that touched the state: it still connects.
    expectConnected(await stack.request(browser, stack.callback(ok)));
  });

  it('C4 a 1 MB code, a raw NUL, raw CR, raw TAB or a raw 0xFF byte in the request line → refused (400/414/431) before any store lookup', async () => {
    const { browser, state, code, cookie } = await ready('tenant-c4');
    const q = `code=${code}&state=${state}`;
    const target = '/connect/callback';
    const cases: [string, string | Buffer, number[]][] = [
      [
        '1 MB code',
        rawGet(stack.origin, `${target}?code=${'c'.repeat(1024 * 1024)}&state=${state}`, { Cookie: cookie }),
        [400, 414, 431],
      ],
      ['raw NUL', rawGet(stack.origin, `${target}?${q}&x=a\u0000b`, { Cookie: cookie }), [400]],
      ['raw CR', rawGet(stack.origin, `${target}?${q}&x=a\rX-Evil: 1`, { Cookie: cookie }), [400]],
      ['raw TAB', rawGet(stack.origin, `${target}?${q}&x=a\tb`, { Cookie: cookie }), [400]],
      [
        'raw 0xFF',
        Buffer.concat([
          Buffer.from(`GET ${target}?${q}&x=`),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(` HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`),
        ]),
        [400],
      ],
    ];
    const mark = stack.journalMark();
    const from = stack.calls.length;
    for (const [what, bytes, statuses] of cases) {
      const a = captureRaw(what, await rawRequest(stack.origin, bytes));
      expect(statuses, `${what}: ${a.status} ${a.error ?? ''}`).toContain(a.status);
      expect(headerNames(a.head)).not.toContain('x-evil');
      expect(headerNames(a.head)).not.toContain('set-cookie');
    }
    expect(methodsSince(stack, from)).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
    expectConnected(await stack.request(browser, stack.codeCallback(code, state)));
  });

  it('C4 a raw LF or CR LF in the request line (which node reads as an HTTP/0.9 request cut at the break) → 400 before any store lookup', async () => {
    const { state, code, cookie } = await ready('tenant-c4');
    const mark = stack.journalMark();
    const from = stack.calls.length;
    // The break comes after the state and code: if the cut request were served, it would connect.
    for (const brk of ['\r\n', '\n']) {
      const a = captureRaw(
        `raw ${JSON.stringify(brk)}`,
        await rawRequest(
          stack.origin,
          rawGet(stack.origin, `/connect/callback?code=${code}&state=${state}${brk}X-Evil: 1`, {
            Cookie: cookie,
          }),
        ),
      );
      expect(a.status, `${JSON.stringify(brk)}: ${a.status}`).toBe(400);
      expect(headerNames(a.head)).not.toContain('x-evil');
    }
    expect(methodsSince(stack, from)).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
  });
});

describe('C5 methods and tokens', () => {
  it('C5 POST/PUT/PATCH/DELETE to the callback → 405 (Allow: GET); access_token, token or id_token in its query → 400; no store access', async () => {
    const { browser, state, code } = await ready('tenant-c5');
    const q: [string, string][] = [
      ['code', code],
      ['state', state],
    ];
    const mark = stack.journalMark();
    const from = stack.calls.length;
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const res = await stack.request(browser, stack.callback(q), { method });
      expectPage(res, 405);
      expect(res.headers.get('allow')).toBe('GET');
    }
    // A form post carrying the values in its body is refused the same way.
    const form = await fetch(stack.callbackUrl, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookieHeader() },
      body: new URLSearchParams(q).toString(),
    });
    const formText = await form.text();
    stack.search.captureResponse('form post', form.status, form.headers, formText);
    expect(form.status).toBe(405);
    for (const name of ['access_token', 'token', 'id_token']) {
      const res = await stack.request(
        browser,
        stack.callback([...q, [name, 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln']]),
      );
      expectPage(res, 400);
      expect(res.text).toContain('Tokens are never accepted in a URL');
    }
    expect(methodsSince(stack, from)).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
    expectConnected(await stack.request(browser, stack.callback(q)));
  });
});

describe('C6 after success', () => {
  it('C6 success → 303 to a clean URL (no code, no state, same site) with Referrer-Policy: no-referrer and Cache-Control: no-store', async () => {
    for (const returnTo of [undefined, '/settings/noon?tab=channels']) {
      const { browser, state, code } = await ready('tenant-c6', returnTo ? { return_to: returnTo } : {});
      const res = await stack.request(browser, stack.codeCallback(code, state));
      expect(res.status).toBe(303);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const loc = res.location!;
      // Relative to this site, and free of every value the callback carried.
      expect(loc.startsWith('/')).toBe(true);
      expect(loc.startsWith('//')).toBe(false);
      expect(loc).not.toContain(code);
      expect(loc).not.toContain(encodeURIComponent(state));
      expect(loc).not.toContain(state);
      const u = new URL(loc, stack.origin);
      expect(u.origin).toBe(stack.origin);
      expect([...u.searchParams.keys()].filter((k) => k === 'code' || k === 'state')).toEqual([]);
      if (returnTo) {
        expect(u.pathname).toBe('/settings/noon');
        expect(u.searchParams.get('tab')).toBe('channels');
        expect(u.searchParams.get('connect_status')).toBe('connected');
      } else {
        expect(u.pathname).toMatch(/^\/connect\/done\/[0-9a-f-]{36}$/);
        const done = await stack.request(browser, u.toString());
        expect(done.status).toBe(200);
        expect(done.text).toContain('Connected');
        expect(done.headers.get('cache-control')).toBe('no-store');
        expect(done.headers.get('referrer-policy')).toBe('no-referrer');
      }
    }
  });
});

describe('C7 return paths', () => {
  const evil = [
    '//evil.com',
    'https://evil.com',
    'http://evil.com/',
    '/\\evil.com',
    '\\\\evil.com',
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    '%2F%2Fevil.com',
    '/%2F/evil.com',
    '/%5Cevil.com',
    '/%09/evil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    ' //evil.com',
    '///evil.com',
    '/.//evil.com',
    '/a/..//evil.com',
    '/%2e//evil.com',
    '/%2e%2e//evil.com',
    'evil.com',
    '',
  ];

  it('C7 hostile return paths (//evil.com, https://evil.com, /\\evil.com, javascript:, %2F%2Fevil.com, /%09/evil.com, dot segments, …) → 400 at flow start, no attempt created, no cookie, no redirect', async () => {
    const mark = stack.journalMark();
    for (const value of evil) {
      const from = stack.calls.length;
      const b = new Browser();
      const res = await stack.request(
        b,
        `${stack.origin}/connect/start?${new URLSearchParams({ tenant: 'tenant-c7', return_to: value })}`,
      );
      expect(res.status, `return_to ${JSON.stringify(value)}`).toBe(400);
      expect(res.text).toContain('Cannot start the connection');
      expect(res.location).toBeNull();
      expect(res.headers.getSetCookie()).toEqual([]);
      expect(res.headers.get('cache-control')).toBe('no-store');
      // Refused before anything was written: no attempt, so no state exists for it.
      expect(methodsSince(stack, from)).not.toContain('createAttempt');
      if (value.includes('evil')) expect(res.text).not.toContain('evil.com');
    }
    expect(await stack.rawStore.listAttempts({ tenant: 'tenant-c7' })).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
  });

  it('C7 a same-site return path is kept (control), and the connector itself refuses the hostile ones when called directly', async () => {
    const b = new Browser();
    const { res } = await stack.start(b, { tenant: 'tenant-c7-ok', return_to: '/settings/noon?tab=1' });
    expect(res.status).toBe(303);
    const [a] = await stack.rawStore.listAttempts({ tenant: 'tenant-c7-ok' });
    expect(a?.returnTo).toBe('/settings/noon?tab=1');
    for (const value of evil) {
      await expect(
        stack.connector.start({ tenant: 'tenant-c7', returnTo: value }),
        JSON.stringify(value),
      ).rejects.toMatchObject({
        code: 'RETURN_PATH_REFUSED',
      });
    }
  });
});

describe('C8 binding cookie flags', () => {
  function cookieAttributes(setCookie: string): { name: string; attrs: Map<string, string> } {
    const [pair, ...rest] = setCookie.split(';').map((s) => s.trim());
    const attrs = new Map<string, string>();
    for (const a of rest) {
      const eq = a.indexOf('=');
      attrs.set((eq < 0 ? a : a.slice(0, eq)).toLowerCase(), eq < 0 ? '' : a.slice(eq + 1));
    }
    return { name: pair!.slice(0, pair!.indexOf('=')), attrs };
  }

  it('C8 on an http public URL the binding cookie is nc_bind; HttpOnly; SameSite=Lax; Path=/; Max-Age ≤ 600; no Domain', async () => {
    const b = new Browser();
    const { res } = await stack.start(b, { tenant: 'tenant-c8' });
    const set = res.headers.getSetCookie();
    expect(set).toHaveLength(1);
    const { name, attrs } = cookieAttributes(set[0]!);
    expect(name).toBe('nc_bind');
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')).toBe('Lax');
    expect(attrs.get('path')).toBe('/');
    expect(Number(attrs.get('max-age'))).toBeGreaterThan(0);
    expect(Number(attrs.get('max-age'))).toBeLessThanOrEqual(600);
    expect(attrs.has('domain')).toBe(false);
    expect(attrs.has('secure')).toBe(false);
  });

  it('C8 with an https public URL (behind a TLS-terminating proxy) the cookie is __Host-nc_bind with Secure, and only that name binds', async () => {
    const behind = await startStack({
      wire: 'search',
      sandbox: sb,
      connector: { publicUrl: 'https://connect.example.test' },
    });
    try {
      const b = new Browser();
      const { state, res } = await behind.start(b, { tenant: 'tenant-c8-https' });
      const set = res.headers.getSetCookie();
      expect(set).toHaveLength(1);
      const { name, attrs } = cookieAttributes(set[0]!);
      expect(name).toBe('__Host-nc_bind');
      expect(attrs.has('secure')).toBe(true);
      expect(attrs.has('httponly')).toBe(true);
      expect(attrs.get('samesite')).toBe('Lax');
      expect(attrs.get('path')).toBe('/');
      expect(attrs.has('domain')).toBe(false);
      expect(Number(attrs.get('max-age'))).toBeLessThanOrEqual(600);
      const seller = freshSeller(sb);
      const code = behind.authorize(state, { projectCode: seller.projectCode });
      const url = behind.callback([
        ['code', code],
        ['state', state],
      ]);
      const value = b.cookies.get('__Host-nc_bind')!;
      const from = behind.calls.length;
      // The same value under the plain name is not the binding here.
      const plain = await behind.request(new Browser(), url, { headers: { cookie: `nc_bind=${value}` } });
      expect(plain.status).toBe(400);
      expect(methodsSince(behind, from)).toEqual([]);
      expectConnectedOn(await behind.request(b, url));
      expect(behind.search.findings()).toEqual([]);
    } finally {
      await behind.close();
    }
  });

  function expectConnectedOn(r: Received): void {
    expect(r.status, r.text).toBe(303);
    expect(r.location).toMatch(/^\/connect\/done\/[0-9a-f-]{36}$/);
  }
});
