// The consent page on the authorize host, over plain HTTP: authorize parameters, sign-in, the consent screen,
// approve and deny, the error page that never redirects, CSRF, page headers and escaping (NC1, NC15–NC21).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import {
  authorizeUrl,
  cookieHeader,
  decide,
  fetchPage,
  formFor,
  formsIn,
  openConsent,
  type PageResponse,
  signInSeller,
} from '../helpers/browser.js';
import { gw, integratorLogin, startSandbox } from '../helpers/sandbox.js';

let sb: Sandbox;
let layla: { email: string; password: string };
let omar: { email: string; password: string };
let laylaCookie: string;
let omarCookie: string;

const FIRST = 'http://127.0.0.1:9/first/callback';
const SECOND = 'https://app.example.com/connect/callback?tenant=t1';
const THIRD = 'http://localhost:8080/cb';

beforeAll(async () => {
  sb = await startSandbox({ poolSize: 2 });
  layla = sb.fixtures.sellers.find((s) => s.email === 'layla@sellers.example')!;
  omar = sb.fixtures.sellers.find((s) => s.email === 'omar@sellers.example')!;
  sb.addClient({ client_id: 'multi', name: 'Multi App', redirect_uris: [FIRST, SECOND, THIRD] });
  laylaCookie = await signInSeller(sb, acme('setup'), layla);
  omarCookie = await signInSeller(sb, acme('setup'), omar);
});

afterAll(async () => {
  await sb?.close();
});

function acme(state: string, extra: Record<string, string> = {}): string {
  return authorizeUrl(sb, { client_id: sb.fixtures.client.clientId, state, ...extra });
}

/** An error page per NC18: status 400, HTML, the page headers, and no redirect of any kind. */
function expectErrorPage(res: PageResponse, status = 400): void {
  expect(res.status).toBe(status);
  expect(res.location).toBeNull();
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('refresh')).toBeNull();
  expect(res.text).not.toMatch(/http-equiv/i);
  expect(res.text).not.toMatch(/<form[^>]*action="\/oauth\/decide"/);
}

function query(location: string): [string, string][] {
  return [...new URL(location).searchParams];
}

/** The location without its query string: where the browser was sent. */
function base(location: string): string {
  const u = new URL(location);
  return `${u.origin}${u.pathname}`;
}

async function approvedLocation(url: string, cookie = laylaCookie): Promise<string> {
  const { form } = await openConsent(url, cookie);
  const res = await decide(sb, form, cookie, 'approve');
  expect(res.status).toBe(303);
  return res.location!;
}

describe('authorize URL and sign-in', () => {
  it('NC16 GET /?client_id=…&state=… opens the sign-in page; other parameters are not carried on', async () => {
    const url = acme('s-nc16', { scope: 'everything', response_type: 'token', foo: 'bar' });
    const res = await fetchPage(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const form = formFor(res.text, '/oauth/signin');
    expect(form.method).toBe('POST');
    expect(form.fields).toEqual([
      ['client_id', 'acme-connect'],
      ['state', 's-nc16'],
    ]);
    // Signed in, the same URL leads to the consent form carrying the same two values, and approval lands on
    // the registered URI with nothing but code and state: scope, response_type and foo had no effect.
    const location = await approvedLocation(url);
    expect(base(location)).toBe(sb.fixtures.client.redirectUris[0]);
    expect(query(location).map(([k]) => k)).toEqual(['code', 'state']);
  });

  it('NC17 sign-in, then a consent page naming the application, its permission and the seller’s projects', async () => {
    const url = acme('s-nc17');
    const signIn = await fetchPage(url);
    expect(signIn.text).toContain('Acme Connect');
    const form = formFor(signIn.text, '/oauth/signin');
    const res = await fetchPage(`${sb.url}/oauth/signin`, {
      form: new URLSearchParams([
        ...form.fields,
        ['email', 'Layla@Sellers.Example'],
        ['password', 'sandbox'],
      ]),
    });
    expect(res.status).toBe(303);
    // Back to the same authorize URL, now signed in.
    expect(new URL(res.location!, sb.url).toString()).toBe(url);
    const cookie = cookieHeader(res.cookies);
    const { page, form: decideForm } = await openConsent(url, cookie);
    expect(page.text).toContain('Acme Connect wants access');
    expect(page.text).toContain('access:grant');
    expect(page.text).toContain('Layla Traders');
    expect(decideForm.radios).toEqual([
      ['project_code', 'PRJ20001'],
      ['project_code', 'PRJ20002'],
    ]);
    expect(page.text).toContain('Layla Home');
    expect(page.text).toContain('Layla Fashion');
    // Another seller's project is never offered.
    expect(page.text).not.toContain('PRJ20003');
    expect(decideForm.buttons).toEqual([
      ['decision', 'approve'],
      ['decision', 'deny'],
    ]);

    // The seller picks the second project and approves: the code is for that project.
    const approved = await decide(sb, decideForm, cookie, 'approve', { project_code: 'PRJ20002' });
    expect(approved.status).toBe(303);
    const code = new URL(approved.location!).searchParams.get('code')!;
    const created = await gw(sb, '/identity/oauth/v1/token/create', {
      cookie: await integratorLogin(sb),
      body: {
        grant_type: 'authorization_code',
        code,
        client_id: sb.fixtures.client.clientId,
        client_secret: sb.fixtures.client.clientSecret,
      },
    });
    expect(created.status).toBe(200);
    expect(created.json.project_code).toBe('PRJ20002');
  });

  it('NC17 a wrong seller password or unknown email → 401 sign-in page again, no session, password not echoed', async () => {
    const url = acme('s-badpass');
    const form = formFor((await fetchPage(url)).text, '/oauth/signin');
    for (const [email, password] of [
      [layla.email, 'not-the-password-x9'],
      ['nobody@sellers.example', 'not-the-password-x9'],
    ] as const) {
      const res = await fetchPage(`${sb.url}/oauth/signin`, {
        form: new URLSearchParams([...form.fields, ['email', email], ['password', password]]),
      });
      expect(res.status).toBe(401);
      expect(res.location).toBeNull();
      expect(res.cookies).toEqual([]);
      expect(res.text).toContain('Email or password is not right');
      expect(res.text).not.toContain('not-the-password-x9');
      // The form is offered again, still carrying the request, with the email kept.
      const again = formFor(res.text, '/oauth/signin');
      expect(again.fields).toEqual(form.fields);
      expect(res.text).toContain(`value="${email}"`);
    }
  });

  it('NC17 the seller cookie is HttpOnly, SameSite=Lax, Path=/ and not Secure over http', async () => {
    const form = formFor((await fetchPage(acme('s-cookie'))).text, '/oauth/signin');
    const res = await fetchPage(`${sb.url}/oauth/signin`, {
      form: new URLSearchParams([...form.fields, ['email', omar.email], ['password', omar.password]]),
    });
    expect(res.status).toBe(303);
    expect(res.cookies).toHaveLength(1);
    const attrs = res.cookies[0]!.split(/;\s*/).slice(1);
    expect(attrs).toContain('HttpOnly');
    expect(attrs).toContain('SameSite=Lax');
    expect(attrs).toContain('Path=/');
    expect(attrs.some((a) => /^Max-Age=\d+$/.test(a) && Number(a.slice(8)) > 0)).toBe(true);
    expect(attrs).not.toContain('Secure');
  });

  it('NC17 "use another account" signs the seller out (with the page’s CSRF token only)', async () => {
    const cookie = await signInSeller(sb, acme('s-out'), omar);
    const { page } = await openConsent(acme('s-out'), cookie);
    const out = formsIn(page.text).find((f) => f.fields.some(([n]) => n === 'signout'))!;
    // A forged sign-out (no token) is refused and the session survives.
    const forged = new URLSearchParams(out.fields.filter(([n]) => n !== 'csrf'));
    expect((await fetchPage(`${sb.url}/oauth/signin`, { form: forged, cookie })).status).toBe(403);
    expect((await fetchPage(acme('s-out'), { cookie })).text).toContain('/oauth/decide');
    const res = await fetchPage(`${sb.url}/oauth/signin`, { form: new URLSearchParams(out.fields), cookie });
    expect(res.status).toBe(303);
    expect(res.cookies[0]).toMatch(/^sbx_seller=; .*Max-Age=0/);
    // The old cookie no longer signs anyone in: the sign-in form is back.
    const after = await fetchPage(acme('s-out'), { cookie });
    expect(after.text).toContain('action="/oauth/signin"');
    expect(after.text).not.toContain('/oauth/decide');
  });
});

describe('bad authorize requests: an error page, never a redirect', () => {
  const cases: [string, string, () => string][] = [
    ['unknown client_id', 'not known', () => authorizeUrl(sb, { client_id: 'no-such-client', state: 'x' })],
    ['missing client_id', 'missing the application', () => authorizeUrl(sb, { state: 'x' })],
    ['missing state', 'missing its state', () => authorizeUrl(sb, { client_id: 'acme-connect' })],
    ['empty state', 'missing its state', () => authorizeUrl(sb, { client_id: 'acme-connect', state: '' })],
    ['state of 513 chars', 'too long', () => acme('s'.repeat(513))],
    [
      'unregistered redirect_uri',
      'not registered',
      () => acme('x', { redirect_uri: 'https://evil.example/cb' }),
    ],
    [
      'repeated client_id',
      'more than once',
      () =>
        authorizeUrl(sb, [
          ['client_id', 'acme-connect'],
          ['client_id', 'multi'],
          ['state', 'x'],
        ]),
    ],
    [
      'repeated state',
      'more than once',
      () =>
        authorizeUrl(sb, [
          ['client_id', 'acme-connect'],
          ['state', 'x'],
          ['state', 'y'],
        ]),
    ],
    [
      'repeated redirect_uri',
      'more than once',
      () =>
        authorizeUrl(sb, [
          ['client_id', 'multi'],
          ['state', 'x'],
          ['redirect_uri', FIRST],
          ['redirect_uri', SECOND],
        ]),
    ],
  ];

  it.each(cases)(
    'NC18 E3 %s → 400 error page (%s), no Location, signed in or not',
    async (_name, why, url) => {
      const codesBefore = sb.world.codes.size;
      for (const cookie of [undefined, laylaCookie]) {
        const res = await fetchPage(url(), cookie ? { cookie } : {});
        expectErrorPage(res);
        expect(res.text).toContain('Cannot continue');
        expect(res.text).toContain(why);
      }
      expect(sb.world.codes.size).toBe(codesBefore);
    },
  );

  it('NC18 a state of exactly 512 chars is accepted', async () => {
    const state = 's'.repeat(512);
    const location = await approvedLocation(acme(state));
    expect(new URL(location).searchParams.get('state')).toBe(state);
  });

  it('NC18 E3 the same checks guard the sign-in and decide posts: 400 page, no redirect, no cookie, no code', async () => {
    const { form } = await openConsent(acme('s-post'), laylaCookie);
    const codesBefore = sb.world.codes.size;
    const requestsBefore = sb.world.requests.size;
    const spoil: Record<string, string>[] = [
      { client_id: 'no-such-client' },
      { state: '' },
      { state: 'z'.repeat(513) },
      { redirect_uri: 'https://evil.example/cb' },
    ];
    for (const change of spoil) {
      const res = await decide(sb, form, laylaCookie, 'approve', change);
      expectErrorPage(res);
      const signIn = new URLSearchParams(form.fields.filter(([n]) => n !== 'csrf'));
      for (const [k, v] of Object.entries(change)) signIn.set(k, v);
      signIn.set('email', layla.email);
      signIn.set('password', layla.password);
      const s = await fetchPage(`${sb.url}/oauth/signin`, { form: signIn });
      expectErrorPage(s);
      expect(s.cookies).toEqual([]);
    }
    expect(sb.world.codes.size).toBe(codesBefore);
    expect(sb.world.requests.size).toBe(requestsBefore);
  });

  it('NC18 the error page does not echo the state', async () => {
    const state = `secret-state-${'q'.repeat(600)}`;
    const res = await fetchPage(acme(state));
    expectErrorPage(res);
    expect(res.text).not.toContain('secret-state-');
  });
});

describe('several registered redirect URIs', () => {
  function multi(state: string, redirectUri?: string): string {
    return authorizeUrl(sb, {
      client_id: 'multi',
      state,
      ...(redirectUri !== undefined ? { redirect_uri: redirectUri } : {}),
    });
  }

  it('NC15 the first registered URI is used when the authorize URL names none', async () => {
    const location = await approvedLocation(multi('s-first'));
    expect(base(location)).toBe(FIRST);
    expect(new URL(location).searchParams.get('state')).toBe('s-first');
  });

  it('NC15 a redirect_uri that exactly matches another registered URI is used, its own query kept', async () => {
    const second = await approvedLocation(multi('s-second', SECOND));
    expect(second.startsWith(`${SECOND}&code=`)).toBe(true);
    expect(query(second).map(([k]) => k)).toEqual(['tenant', 'code', 'state']);
    const third = await approvedLocation(multi('s-third', THIRD));
    expect(base(third)).toBe(THIRD);
  });

  it.each([
    ['trailing slash', `${FIRST}/`],
    ['path case', FIRST.replace('callback', 'Callback')],
    ['host case', SECOND.replace('app.example.com', 'APP.example.com')],
    ['scheme case', THIRD.replace('http:', 'HTTP:')],
    ['explicit default port', SECOND.replace('app.example.com', 'app.example.com:443')],
    ['another port', THIRD.replace('8080', '8081')],
    ['extra query', `${SECOND}&next=/admin`],
    ['query dropped', SECOND.replace('?tenant=t1', '')],
    ['extra query on a URI without one', `${FIRST}?x=1`],
    ['fragment', `${FIRST}#frag`],
    ['encoded', encodeURIComponent(FIRST)],
    ['empty', ''],
  ])('NC15 E3 a near miss (%s) is refused with the error page, never a redirect', async (_name, uri) => {
    const res = await fetchPage(multi('s-near', uri), { cookie: laylaCookie });
    expectErrorPage(res);
    expect(res.text).toContain('not registered');
  });

  it('NC15 with the redirectUriParam switch off the parameter is ignored: the first URI, even for a stranger', async () => {
    sb.setSwitches({ redirectUriParam: false });
    try {
      for (const uri of [SECOND, 'https://evil.example/cb']) {
        const url = multi('s-off', uri);
        const { form } = await openConsent(url, laylaCookie);
        // The ignored parameter is not carried into the form either.
        expect(form.fields.map(([n]) => n)).not.toContain('redirect_uri');
        const res = await decide(sb, form, laylaCookie, 'approve');
        expect(res.status).toBe(303);
        expect(base(res.location!)).toBe(FIRST);
      }
      // Ignored altogether: even given twice it is no error.
      const twice = authorizeUrl(sb, [
        ['client_id', 'multi'],
        ['state', 's-off-twice'],
        ['redirect_uri', SECOND],
        ['redirect_uri', THIRD],
      ]);
      expect(base(await approvedLocation(twice))).toBe(FIRST);
    } finally {
      sb.setSwitches({ redirectUriParam: true });
    }
  });

  it('NC15 the chosen URI is bound into the CSRF token: swapping redirect_uri in the form → 403', async () => {
    const { form } = await openConsent(multi('s-swap', SECOND), laylaCookie);
    const res = await decide(sb, form, laylaCookie, 'approve', { redirect_uri: THIRD });
    expect(res.status).toBe(403);
    expect(res.location).toBeNull();
  });
});

describe('the consent page itself', () => {
  it('NC19 sign-in, consent and error pages and the redirects refuse framing, referrers and caching', async () => {
    const signIn = await fetchPage(acme('s-headers'));
    const { page: consent, form } = await openConsent(acme('s-headers'), laylaCookie);
    const error = await fetchPage(authorizeUrl(sb, { client_id: 'nope', state: 'x' }));
    const approve = await decide(sb, form, laylaCookie, 'approve');
    const signInPost = await fetchPage(`${sb.url}/oauth/signin`, {
      form: new URLSearchParams([
        ...formFor(signIn.text, '/oauth/signin').fields,
        ['email', omar.email],
        ['password', omar.password],
      ]),
    });
    for (const res of [signIn, consent, error, approve, signInPost]) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/(^|;)\s*frame-ancestors 'none'\s*(;|$)/);
      expect(csp).toMatch(/(^|;)\s*default-src 'none'\s*(;|$)/);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    // No scripts and no external assets on the pages.
    for (const res of [signIn, consent, error]) {
      expect(res.text).not.toMatch(/<script|<link|<img|<iframe|\son[a-z]+=/i);
      expect(res.text).not.toMatch(/(src|href)="https?:/i);
    }
  });

  it('NC19 E2 the decide form without its CSRF token, with an empty one or with a forged one → 403', async () => {
    const { form } = await openConsent(acme('s-csrf'), laylaCookie);
    const codesBefore = sb.world.codes.size;
    const requestsBefore = sb.world.requests.size;
    const token = form.fields.find(([n]) => n === 'csrf')![1];
    for (const csrf of [
      undefined,
      '',
      `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
      `${token}x`,
    ]) {
      for (const decision of ['approve', 'deny'] as const) {
        const res = await decide(sb, form, laylaCookie, decision, { csrf });
        expectErrorPage(res, 403);
      }
    }
    expect(sb.world.codes.size).toBe(codesBefore);
    expect(sb.world.requests.size).toBe(requestsBefore);
    // The untouched form still works.
    expect((await decide(sb, form, laylaCookie, 'approve')).status).toBe(303);
  });

  it('NC19 a CSRF token from another seller session, or for another state or client → 403', async () => {
    const laylaForm = (await openConsent(acme('s-a'), laylaCookie)).form;
    const laylaCsrf = laylaForm.fields.find(([n]) => n === 'csrf')![1];
    const omarForm = (await openConsent(acme('s-a'), omarCookie)).form;
    // Layla's token presented in Omar's session.
    expect((await decide(sb, omarForm, omarCookie, 'approve', { csrf: laylaCsrf })).status).toBe(403);
    // A second sign-in of the same seller is another session: its token does not carry over.
    const laylaAgain = await signInSeller(sb, acme('s-a'), layla);
    expect((await decide(sb, laylaForm, laylaAgain, 'approve')).status).toBe(403);
    // The token for state s-a presented for state s-b, and for another client.
    expect((await decide(sb, laylaForm, laylaCookie, 'approve', { state: 's-b' })).status).toBe(403);
    expect((await decide(sb, laylaForm, laylaCookie, 'approve', { client_id: 'multi' })).status).toBe(403);
    // Without any seller session the form is refused too.
    const none = await decide(sb, laylaForm, '', 'approve');
    expectErrorPage(none, 403);
  });

  it('E2 the form with its token → 303 approval', async () => {
    const { form } = await openConsent(acme('s-e2'), laylaCookie);
    const res = await decide(sb, form, laylaCookie, 'approve');
    expect(res.status).toBe(303);
    expect(base(res.location!)).toBe(sb.fixtures.client.redirectUris[0]);
  });

  it('NC17 a project that is not the seller’s, none, or two at once → 400 and no code', async () => {
    const { form } = await openConsent(acme('s-proj'), laylaCookie);
    const codesBefore = sb.world.codes.size;
    for (const project of ['PRJ20003', 'PRJ10001', '', undefined]) {
      const res = await decide(sb, form, laylaCookie, 'approve', { project_code: project });
      expectErrorPage(res);
    }
    const two = new URLSearchParams(form.fields);
    two.append('project_code', 'PRJ20002');
    two.set('decision', 'approve');
    const both = await fetchPage(`${sb.url}/oauth/decide`, { form: two, cookie: laylaCookie });
    expectErrorPage(both);
    expect(both.text).toContain('Choose one project.');
    const neither = await decide(sb, form, laylaCookie, 'approve', { decision: 'maybe' });
    expectErrorPage(neither);
    expect(sb.world.codes.size).toBe(codesBefore);
  });

  it('NC19 client name and state are escaped in every page (no markup injection)', async () => {
    sb.addClient({
      client_id: 'xss-app',
      name: '<script>alert("name")</script><img src=x onerror=alert(1)>',
      redirect_uris: [FIRST],
    });
    const state = "\"><script>alert('state')</script>";
    const url = authorizeUrl(sb, { client_id: 'xss-app', state });
    const signIn = await fetchPage(url);
    const { page: consent, form } = await openConsent(url, laylaCookie);
    const failed = await fetchPage(`${sb.url}/oauth/signin`, {
      form: new URLSearchParams([
        ...formFor(signIn.text, '/oauth/signin').fields,
        ['email', '"><script>x</script>@e.example'],
        ['password', 'nope'],
      ]),
    });
    for (const res of [signIn, consent, failed]) {
      expect(res.text).not.toMatch(/<script|<img/i);
      expect(res.text).toContain('&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;');
    }
    // The state survives escaping intact: the hidden field decodes to the original value.
    expect(form.fields).toContainEqual(['state', state]);
    const approved = await decide(sb, form, laylaCookie, 'approve');
    expect(new URL(approved.location!).searchParams.get('state')).toBe(state);
  });
});

describe('the callback redirect', () => {
  it('NC20 approve → 303 to the registered URI with code and state; the code works at token/create', async () => {
    const state = 'st-nc20-Zy9';
    const { form } = await openConsent(acme(state), laylaCookie);
    const res = await decide(sb, form, laylaCookie, 'approve', { project_code: 'PRJ20001' });
    expect(res.status).toBe(303);
    expect(res.text).toBe('');
    expect(base(res.location!)).toBe(sb.fixtures.client.redirectUris[0]);
    const q = new URLSearchParams(new URL(res.location!).search);
    expect([...q.keys()]).toEqual(['code', 'state']);
    expect(q.get('state')).toBe(state);
    const code = q.get('code')!;
    expect(code.length).toBeGreaterThanOrEqual(43);

    const created = await gw(sb, '/identity/oauth/v1/token/create', {
      cookie: await integratorLogin(sb),
      body: {
        grant_type: 'authorization_code',
        code,
        client_id: sb.fixtures.client.clientId,
        client_secret: sb.fixtures.client.clientSecret,
      },
    });
    expect(created.status).toBe(200);
    expect(created.json.project_code).toBe('PRJ20001');
    expect(created.json.scopes).toEqual(['access:grant']);
  });

  it('NC21 deny → 303 with error=access_denied and the state, no code, nothing redeemable', async () => {
    const state = 'st-nc21';
    const { form } = await openConsent(acme(state), omarCookie);
    const codesBefore = sb.world.codes.size;
    const res = await decide(sb, form, omarCookie, 'deny');
    expect(res.status).toBe(303);
    expect(base(res.location!)).toBe(sb.fixtures.client.redirectUris[0]);
    expect(query(res.location!)).toEqual([
      ['error', 'access_denied'],
      ['state', state],
    ]);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(sb.world.codes.size).toBe(codesBefore);
    const denied = [...sb.world.requests.values()].filter(
      (r) => r.status === 'DENIED' && r.sellerProject === 'PRJ20003',
    );
    expect(denied.length).toBeGreaterThanOrEqual(1);
  });
});

describe('one origin', () => {
  it('NC1 the consent page and the gateway paths share one origin without colliding', async () => {
    expect(new URL(sb.authorizeUrl).origin).toBe(new URL(sb.gatewayUrl).origin);
    // `/` with a query is the consent page…
    const consent = await fetchPage(acme('s-nc1'));
    expect(consent.status).toBe(200);
    expect(consent.text).toContain('action="/oauth/signin"');
    // …`/` without one is the sandbox's index, not the consent page…
    const index = await fetchPage(sb.url);
    expect(index.status).toBe(200);
    expect(index.text).not.toContain('/oauth/signin');
    // …and the gateway answers JSON on its own paths of the same origin.
    const whoami = await gw(sb, '/identity/v1/whoami', { cookie: await integratorLogin(sb) });
    expect(whoami.status).toBe(200);
    expect(whoami.json.project_code).toBe(sb.fixtures.integrator.projectCode);
    const anonymous = await gw(sb, '/identity/v1/whoami');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/json/);
    // A seller cookie is no gateway session, and a gateway session is no seller sign-in.
    expect((await gw(sb, '/identity/v1/whoami', { cookie: laylaCookie })).status).toBe(401);
    const withGateway = await fetchPage(acme('s-nc1'), { cookie: await integratorLogin(sb) });
    expect(withGateway.text).toContain('action="/oauth/signin"');
  });
});

describe('secrets', () => {
  it('NC17 NC20 codes, seller session cookies, passwords and CSRF tokens stay out of the journal and pages', async () => {
    const nadia = sb.addSeller({
      email: 'nadia@sellers.example',
      password: 'pw-Unique-7788',
      name: 'Nadia',
      projects: [{ project_code: 'PRJ20009', name: 'Nadia Store' }],
    });
    const state = 'st-secret-journal';
    const signIn = await fetchPage(acme(state));
    const failed = await fetchPage(`${sb.url}/oauth/signin`, {
      form: new URLSearchParams([
        ...formFor(signIn.text, '/oauth/signin').fields,
        ['email', nadia.email],
        ['password', `${nadia.password}-wrong`],
      ]),
    });
    const cookie = await signInSeller(sb, acme(state), nadia);
    const { page, form } = await openConsent(acme(state), cookie);
    const res = await decide(sb, form, cookie, 'approve');
    const code = new URL(res.location!).searchParams.get('code')!;
    const csrf = form.fields.find(([n]) => n === 'csrf')![1];
    const sessionId = cookie.split('=')[1]!;
    expect(sessionId.length).toBeGreaterThanOrEqual(43);
    const journal = JSON.stringify(sb.journal.entries());
    for (const secret of [code, csrf, sessionId, state, nadia.password])
      expect(journal).not.toContain(secret);
    const access = await fetchPage(`${sb.url}/access/oauth`);
    for (const text of [signIn.text, failed.text, page.text, access.text]) {
      for (const secret of [code, sessionId, nadia.password]) expect(text).not.toContain(secret);
    }
  });
});
