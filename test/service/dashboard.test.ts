// The dashboard over plain HTTP: sign-in outside dev (wrong token refused, session cookie flags, fixation, expiry,
// sign-out), CSRF on every form, the security headers, the connect flow and the connection actions through the
// pages, no secret in any page or log line (K7), and every value escaped (a tenant named <script>). Dev mode
// without tokens: sign-in with the link made at start, refused for any other Host.

import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Step } from '../../src/connect/index.js';
import { metaOf, openStore, type Store } from '../../src/store/index.js';
import { LocalKeyProvider, parseKeyConfig, Vault } from '../../src/vault/index.js';
import { formsIn, type LittleServer, littleServer } from '../helpers/browser.js';
import { Agent, type Answer, csrfIn } from '../helpers/dashboard-agent.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { SecretSearch } from '../helpers/secret-search.js';

function flashIn(html: string): string | undefined {
  return /<div class="flash flash-\w+" role="status">([^<]*)<\/div>/.exec(html)?.[1];
}

/** A second handle on the service's store and vault, to read what a test needs to search for. */
async function openSide(stack: ServiceStack): Promise<{ store: Store; vault: Vault }> {
  const store = await openStore(stack.env.NOON_CONNECT_STORE!);
  const vault = await Vault.open({
    provider: new LocalKeyProvider(parseKeyConfig(stack.masterKey)),
    meta: metaOf(store),
  });
  return { store, vault };
}

const PAGES = ['/', '/connections', '/attempts', '/attempts?state=failed', '/attention', '/events'];

describe('dashboard over HTTP, production mode (admin token)', () => {
  let stack: ServiceStack;
  let receiver: LittleServer;
  let side: { store: Store; vault: Vault } | undefined;
  const search = new SecretSearch();
  const accessTokens: string[] = [];
  const webhookToken = `hook-${randomBytes(16).toString('hex')}`;
  const webhookSecret = `whsec-${randomBytes(16).toString('hex')}`;
  let admin: Agent;
  let connectionId = '';
  let project = '';

  async function sideHandles() {
    side ??= await openSide(stack);
    return side;
  }

  /** Reads the access token the moment it is committed, so the search knows it. */
  async function stepHook(step: Step, a: { id: string; tenant: string }) {
    if (step !== 'TOKEN_ISSUED') return;
    const { store, vault } = await sideHandles();
    const attempt = await store.getAttempt(a.id);
    if (!attempt?.accessTokenSealed || !attempt.sellerProject) return;
    const token = (
      await vault.open(attempt.accessTokenSealed, {
        tenant: attempt.tenant,
        project: attempt.sellerProject,
        credentialId: attempt.id,
        purpose: 'access-token',
      })
    ).toString('utf8');
    accessTokens.push(token);
    search.add('access token', token);
  }

  beforeAll(async () => {
    receiver = await littleServer('127.0.0.1');
    stack = await startServiceStack({
      env: {
        NOON_CONNECT_WEBHOOK_URLS: `${receiver.origin}/hooks?token=${webhookToken}`,
        NOON_CONNECT_WEBHOOK_SECRET: webhookSecret,
      },
      deps: { stepHook },
    });
    search.add('client secret', stack.clientSecret);
    search.addPem(stack.sb.fixtures.integrator.key!.private_key);
    search.watch('service log', stack.logs);
    admin = new Agent(stack.url, search);
  });

  afterAll(async () => {
    await side?.store.close();
    await stack?.close();
    await receiver?.close();
  });

  async function signIn(agent: Agent): Promise<Answer> {
    const form = await agent.get('/sign-in');
    return agent.post('/sign-in', { csrf: csrfIn(form.text), next: '/', token: stack.adminToken! });
  }

  /** "Connect a seller" → start → consent (through the sandbox) → callback → back on the dashboard. */
  async function connectThroughDashboard(agent: Agent, tenant: string) {
    const home = await agent.get('/');
    const posted = await agent.post('/connect-seller', { csrf: csrfIn(home.text), tenant });
    expect(posted.status).toBe(303);
    expect(posted.location).toMatch(new RegExp(`^${stack.url}/connect/start\\?t=`));
    const start = await agent.send(posted.location!, { capture: false });
    expect(start.status).toBe(303);
    const authorize = new URL(start.location!);
    expect(authorize.origin).toBe(stack.sb.url);
    const state = authorize.searchParams.get('state')!;
    search.add('state', state);
    const consent = stack.sb.authorize({
      clientId: stack.clientId,
      state,
      redirectUri: `${stack.url}/connect/callback`,
    });
    search.add('code', consent.code);
    const callback = await agent.get(consent.location);
    expect(callback.status).toBe(303);
    const back = await agent.get(callback.location!);
    return { back, callback, oauthRequestId: consent.oauthRequestId };
  }

  it('sign-in is required: every page redirects to the sign-in form and every action is refused without a session', async () => {
    const anon = new Agent(stack.url, search);
    for (const path of [
      ...PAGES,
      `/connections/${randomUUID()}`,
      `/connections/${randomUUID()}/disconnect`,
    ]) {
      const r = await anon.send(path, { jar: false });
      expect(r.status, path).toBe(303);
      expect(r.location, path).toBe(`/sign-in?next=${encodeURIComponent(path)}`);
      expect(r.text).toBe('');
    }
    // A valid CSRF token of a browser that is not signed in still opens nothing.
    const form = await anon.get('/sign-in');
    expect(form.status).toBe(200);
    const csrf = csrfIn(form.text);
    const links = stack.logs.filter((l) => l.includes('connect link created')).length;
    const r = await anon.post('/connect-seller', { csrf, tenant: 'demo' });
    expect(r.status).toBe(303);
    expect(r.location).toBe('/sign-in');
    expect(stack.logs.filter((l) => l.includes('connect link created')).length).toBe(links);
    // Coming back from another site without the SameSite=Strict cookie: one same-origin hop, which shows nothing.
    const hop = await anon.send('/connections?connect_attempt=x', {
      jar: false,
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(hop.status).toBe(200);
    expect(hop.text).toContain('<meta http-equiv="refresh" content="0;url=/connections?connect_attempt=x">');
    expect(hop.text).not.toContain('Connect a seller');
  });

  it('a wrong admin token is refused; the right one gives a fresh HttpOnly SameSite=Strict session; sign-out ends it', async () => {
    const agent = new Agent(stack.url, search);
    const form = await agent.get('/sign-in?next=%2Fevents');
    const before = agent.cookies.get('nc_dash')!;
    expect(before).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(form.cookies[0]).toMatch(/^nc_dash=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(form.text).toContain('<input type="hidden" name="next" value="/events">');

    const wrong = await agent.post('/sign-in', {
      csrf: csrfIn(form.text),
      next: '/events',
      // One character off (never the same one: a token ending in `x` must not be sent back unchanged).
      token: `${stack.adminToken!.slice(0, -1)}${stack.adminToken!.endsWith('x') ? 'y' : 'x'}`,
    });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('That token is not right.');
    expect(wrong.cookies).toEqual([]);
    expect((await agent.get('/events')).status).toBe(303);

    const ok = await agent.post('/sign-in', {
      csrf: csrfIn(form.text),
      next: '/events',
      token: stack.adminToken!,
    });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/events');
    // The session, and the browser's known-browser mark (its own sign-in budget from now on).
    expect(ok.cookies).toHaveLength(2);
    expect(ok.cookies[0]).toMatch(
      /^nc_dash=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/,
    );
    expect(ok.cookies[1]).toMatch(
      /^nc_known=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=2592000$/,
    );
    const session = agent.cookies.get('nc_dash')!;
    // Session fixation: the value planted before sign-in is not the session.
    expect(session).not.toBe(before);
    expect(
      (await agent.send('/events', { jar: false, headers: { cookie: `nc_dash=${before}` } })).status,
    ).toBe(303);
    const events = await agent.get('/events');
    expect(events.status).toBe(200);
    expect(events.text).toContain('<h1>Events</h1>');

    // A `next` pointing elsewhere is not followed.
    const other = new Agent(stack.url, search);
    const f2 = await other.get('/sign-in');
    for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example', '/nowhere']) {
      const r = await other.post('/sign-in', { csrf: csrfIn(f2.text), next, token: 'wrong-token' });
      expect(r.text).toContain('<input type="hidden" name="next" value="/">');
    }

    const out = await agent.post('/sign-out', { csrf: csrfIn(events.text) });
    expect(out.status).toBe(303);
    expect(out.location).toBe('/sign-in');
    expect(out.cookies[0]).toMatch(/^nc_dash=; .*Max-Age=0$/);
    // The old session value no longer opens anything.
    expect((await agent.send('/', { jar: false, headers: { cookie: `nc_dash=${session}` } })).status).toBe(
      303,
    );
  });

  it('the admin connects a seller from the dashboard and lands back on it with the result', async () => {
    expect((await signIn(admin)).status).toBe(303);
    const { back, callback, oauthRequestId } = await connectThroughDashboard(admin, 'demo');
    expect(callback.location).toMatch(
      /^\/connections\?connect_attempt=[0-9a-f-]{36}&connect_status=connected$/,
    );
    expect(back.status).toBe(200);
    project = stack.sb.fixtures.seller.projects[0]!;
    expect(flashIn(back.text)).toBe(`Seller connected: project ${project} for tenant demo.`);
    const issued = stack.sb.ledger.entries({ sellerProject: project, via: 'exchange' });
    expect(issued).toHaveLength(1);
    const conn = (await stack.service.context.store.listConnections({ tenant: 'demo' }))[0]!;
    connectionId = conn.id;
    // The connection page shows every identifier whole: project, channel identifier, key id, oauth_request_id.
    const page = await admin.get(`/connections/${connectionId}`);
    expect(page.status).toBe(200);
    for (const v of [project, issued[0]!.keyId, issued[0]!.channelIdentifier, oauthRequestId])
      expect(page.text).toContain(v);
  });

  it('the connection actions work through their forms: test, rotate, reconnect, disconnect (checked on the sandbox)', async () => {
    const { sb } = stack;
    const here = `/connections/${connectionId}`;
    let page = await admin.get(here);
    const whoamis = sb.journal.count({ endpoint: 'whoami', status: 200 });
    let r = await admin.post(`${here}/test`, { csrf: csrfIn(page.text) });
    expect(r.status).toBe(303);
    expect(r.location).toBe(here);
    expect(sb.journal.count({ endpoint: 'whoami', status: 200 })).toBe(whoamis + 1);
    page = await admin.get(here);
    expect(flashIn(page.text)).toBe('Connection works: login and whoami succeeded.');
    // Shown once.
    expect(flashIn((await admin.get(here)).text)).toBeUndefined();

    const firstKey = sb.ledger.entries({ sellerProject: project })[0]!.keyId;
    r = await admin.post(`${here}/rotate`, { csrf: csrfIn(page.text) });
    expect(r.status).toBe(303);
    page = await admin.get(here);
    const live = sb.ledger.entries({ sellerProject: project }).filter((e) => e.removedAt === undefined);
    expect(live).toHaveLength(1);
    expect(live[0]!.keyId).not.toBe(firstKey);
    expect(flashIn(page.text)).toContain(`Key rotated: now using key ${live[0]!.keyId}`);

    r = await admin.post(`${here}/reconnect`, { csrf: csrfIn(page.text) });
    expect(r.status).toBe(303);
    const link = new URL(r.location!);
    expect(link.pathname).toBe('/connect/start');
    const body = JSON.parse(Buffer.from(link.searchParams.get('t')!.split('.')[0]!, 'base64url').toString());
    expect(body).toMatchObject({ tn: 'demo', cn: connectionId, rt: '/connections' });

    // The confirmation page changes nothing; the POST disconnects.
    const confirm = await admin.get(`${here}/disconnect`);
    expect(confirm.status).toBe(200);
    expect(
      sb.ledger.entries({ sellerProject: project }).filter((e) => e.removedAt === undefined),
    ).toHaveLength(1);
    r = await admin.post(`${here}/disconnect`, { csrf: csrfIn(confirm.text) });
    expect(r.status).toBe(303);
    page = await admin.get(here);
    expect(flashIn(page.text)).toContain(`Disconnected ${project}`);
    expect(
      sb.ledger.entries({ sellerProject: project }).filter((e) => e.removedAt === undefined),
    ).toHaveLength(0);
    expect((await stack.service.context.store.getConnection(connectionId))!.status).toBe('disconnected');

    // An action on a connection that is not active says why, and calls nothing upstream.
    const creates = sb.journal.count({ endpoint: 'api_users.create' });
    r = await admin.post(`${here}/rotate`, { csrf: csrfIn(page.text) });
    expect(r.status).toBe(303);
    expect(flashIn((await admin.get(here)).text)).toContain(
      'Rotate key failed: the connection is not active',
    );
    expect(sb.journal.count({ endpoint: 'api_users.create' })).toBe(creates);
    // An unknown connection is a 404 page.
    expect((await admin.get(`/connections/${randomUUID()}`)).status).toBe(404);
  });

  it('every form carries a CSRF token bound to the session; without it, or with another session’s, each POST is refused and nothing runs', async () => {
    // A second connection to act on.
    const { back } = await connectThroughDashboard(admin, 'csrf-check');
    expect(flashIn(back.text)).toContain('Seller connected');
    const conn = (await stack.service.context.store.listConnections({ tenant: 'csrf-check' }))[0]!;
    const here = `/connections/${conn.id}`;
    const own = csrfIn((await admin.get('/')).text);

    // Every form on every page posts, and carries this session's token.
    const pages = [...PAGES, here, `${here}/disconnect`];
    let forms = 0;
    for (const path of pages) {
      const page = await admin.get(path);
      expect(page.status, path).toBe(200);
      for (const f of formsIn(page.text)) {
        forms++;
        expect(f.method, `${path} ${f.action}`).toBe('POST');
        expect(f.fields.find(([n]) => n === 'csrf')?.[1], `${path} ${f.action}`).toBe(own);
      }
    }
    expect(forms).toBeGreaterThanOrEqual(pages.length);

    const other = new Agent(stack.url, search);
    await signIn(other);
    const foreign = csrfIn((await other.get('/')).text);
    const posts: [string, Record<string, string>][] = [
      ['/connect-seller', { tenant: 'demo' }],
      [`${here}/test`, {}],
      [`${here}/rotate`, {}],
      [`${here}/reconnect`, {}],
      [`${here}/disconnect`, {}],
      ['/sign-out', {}],
      ['/sign-in', { token: stack.adminToken!, next: '/' }],
    ];
    const { sb } = stack;
    const upstream = () =>
      ['whoami', 'api_users.create', 'api_users.remove', 'api_users.list'].map((e) =>
        sb.journal.count({ endpoint: e }),
      );
    const before = upstream();
    const ledger = sb.ledger.count();
    for (const [path, fields] of posts) {
      for (const csrf of [undefined, '', foreign, `${own.slice(0, -2)}AA`]) {
        const form = csrf === undefined ? fields : { ...fields, csrf };
        const r = await admin.post(path, form);
        expect(r.status, `${path} csrf=${csrf}`).toBe(403);
        expect(r.location).toBeNull();
        expect(r.text).toContain('This form was refused');
      }
      // The right token, but sent from another site: refused as well.
      const cross = await admin.post(path, { ...fields, csrf: own }, { 'sec-fetch-site': 'cross-site' });
      expect(cross.status).toBe(403);
      // A JSON body is not a form.
      const json = await admin.send(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: admin.cookieHeader() },
        jar: false,
      });
      expect(json.status).toBe(415);
    }
    expect(upstream()).toEqual(before);
    expect(sb.ledger.count()).toBe(ledger);
    expect((await stack.service.context.store.getConnection(conn.id))!.status).toBe('active');
    // Still signed in: the refused sign-out did nothing.
    expect((await admin.get('/')).status).toBe(200);
  });

  it('every page sends the security headers: CSP without scripts, no framing, no referrer, no caching', async () => {
    const conn = (await stack.service.context.store.listConnections())[0]!;
    const anon = new Agent(stack.url, search);
    const answers = [
      ...(await Promise.all(
        [...PAGES, `/connections/${conn.id}`, `/connections/${conn.id}/disconnect`].map((p) => admin.get(p)),
      )),
      await anon.get('/sign-in'),
      await anon.get('/'),
    ];
    for (const a of answers) {
      expect(a.headers.get('content-security-policy')).toBe(
        `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${stack.sb.url}; frame-ancestors 'none'; base-uri 'none'`,
      );
      expect(a.headers.get('referrer-policy')).toBe('no-referrer');
      expect(a.headers.get('cache-control')).toBe('no-store');
      expect(a.headers.get('x-frame-options')).toBe('DENY');
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
      if (a.status === 200) {
        // No script, no external asset: the pages work without JavaScript.
        expect(a.text).not.toMatch(/<script|<link|<img|<iframe|\son\w+=/i);
        expect(a.text).not.toMatch(/(src|href|action)="https?:/i);
      }
    }
  });

  it('escapes every value: a tenant named <script> and markup in stored fields show as text', async () => {
    const evil = `<script>alert("x")</script>'"&`;
    const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&quot;&amp;';
    const { store } = await sideHandles();
    const now = stack.sb.clock.now();
    const stored = randomUUID();
    await store.createAttempt({
      id: stored,
      tenant: evil,
      stateHash: randomBytes(32).toString('hex'),
      environment: 'local',
      returnTo: '/',
      createdAt: now,
      expiresAt: now + 60_000,
      status: 'KEY_STORED',
      sellerProject: '<b>PRJ</b>',
    });
    const evilConn = randomUUID();
    await store.connect({
      attemptId: stored,
      connectionId: evilConn,
      credential: {
        id: randomUUID(),
        connectionId: evilConn,
        tenant: evil,
        sellerProject: '<b>PRJ</b>',
        keyId: '<i>key</i>',
        channelIdentifier: '<u>channel</u>@x',
        sealed: 'v1.not-a-sealed-value',
        createdAt: now,
      },
      userCode: null,
      oauthRequestId: '"><svg>',
      now,
    });
    const flagged = randomUUID();
    await store.createAttempt({
      id: flagged,
      tenant: evil,
      stateHash: randomBytes(32).toString('hex'),
      environment: 'local',
      returnTo: '/',
      createdAt: now,
      expiresAt: now + 60_000,
      status: 'NEEDS_ATTENTION',
    });
    await store.transition(
      flagged,
      'NEEDS_ATTENTION',
      'NEEDS_ATTENTION',
      { errorCode: '<em>CODE</em>', errorDetail: '<img src=x onerror=alert(1)>' },
      now,
    );
    await store.appendEvents([
      {
        id: randomUUID(),
        type: 'failed',
        tenant: evil,
        connectionId: null,
        attemptId: flagged,
        payload: JSON.stringify({ tenant: evil, seller_project: '<b>PRJ</b>', error_code: '<em>CODE</em>' }),
        createdAt: now,
        endpoints: [],
      },
    ]);

    const pages = [...PAGES, `/connections/${evilConn}`, `/connections/${evilConn}/disconnect`];
    for (const path of pages) {
      const page = await admin.get(path);
      expect(page.status, path).toBe(200);
      expect(page.text, path).not.toMatch(/<script|<b>PRJ|<i>key|<u>channel|<em>CODE|<img|<svg/);
    }
    const home = await admin.get('/');
    expect(home.text).toContain(escaped);
    expect(home.text).toContain('&lt;b&gt;PRJ&lt;/b&gt;');
    const conn = await admin.get(`/connections/${evilConn}`);
    for (const v of ['&lt;i&gt;key&lt;/i&gt;', '&lt;u&gt;channel&lt;/u&gt;@x', '&quot;&gt;&lt;svg&gt;'])
      expect(conn.text).toContain(v);
    const attention = await admin.get('/attention');
    expect(attention.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect((await admin.get('/events')).text).toContain('&lt;em&gt;CODE&lt;/em&gt;');

    // Typed into the form, the same name is refused as a tenant and echoed as text only.
    const posted = await admin.post('/connect-seller', { csrf: csrfIn(home.text), tenant: '<script>' });
    expect(posted.status).toBe(303);
    expect(posted.location).toBe('/');
    const after = await admin.get('/');
    expect(flashIn(after.text)).toContain('“&lt;script&gt;” is not a tenant name');
    expect(after.text).not.toContain('<script');
  });

  it('K7 no page and no log line shows a secret: client secret, keys, access tokens, codes, states, cookies, tokens', async () => {
    // Every key the service holds, opened through a second vault: their PEM lines are what must not show.
    const { store, vault } = await sideHandles();
    let keys = 0;
    for (const c of await store.listConnections()) {
      for (const cred of await store.listCredentials({ connectionId: c.id })) {
        if (!cred.sealed.startsWith('v1.not')) {
          const file = JSON.parse(
            (
              await vault.open(cred.sealed, {
                tenant: cred.tenant,
                project: cred.sellerProject,
                credentialId: cred.id,
                purpose: 'seller-key-file',
              })
            ).toString('utf8'),
          ) as { private_key: string };
          search.addPem(file.private_key);
          keys++;
        }
      }
    }
    expect(keys).toBeGreaterThanOrEqual(3);
    expect(accessTokens.length).toBeGreaterThanOrEqual(2);

    // One more visit of every page, the error pages included.
    const conns = await store.listConnections();
    for (const path of [
      ...PAGES,
      ...conns.flatMap((c) => [`/connections/${c.id}`, `/connections/${c.id}/disconnect`]),
      `/connections/${randomUUID()}`,
    ])
      await admin.get(path);
    await admin.post('/connect-seller', { tenant: 'x' });
    await new Agent(stack.url, search).get('/sign-in');

    expect(search.count('client secret')).toBe(1);
    expect(search.count('PEM')).toBeGreaterThan(20);
    expect(search.count('session cookie')).toBeGreaterThanOrEqual(3);
    expect(search.captured).toBeGreaterThan(50);
    expect(search.findings()).toEqual([]);

    // The service's own secrets, in every answer and log line.
    const own: [string, string][] = [
      ['admin token', stack.adminToken!],
      ['api token', stack.apiToken!],
      ['master key', stack.masterKey],
      ['webhook secret', webhookSecret],
      ['webhook URL token', webhookToken],
      ['client secret', stack.clientSecret],
    ];
    const texts = [
      ...admin.answers.map((a) => ({ where: a.where, text: `${a.answer.text}\n${a.answer.location ?? ''}` })),
      ...stack.logs.map((l, i) => ({ where: `log ${i}`, text: l })),
    ];
    const leaks = texts.flatMap(({ where, text }) =>
      own.filter(([, v]) => text.includes(v)).map(([what]) => `${what} in ${where}`),
    );
    expect(leaks).toEqual([]);
    // The webhook deliveries are listed, without the endpoint's query.
    const events = await admin.get('/events');
    expect(events.text).toContain(`<code>${receiver.origin}/hooks</code>`);
  });

  it('a session ends after 12 hours; H4 ten tries from one address pause sign-in there, fresh cookies or not, for at most a minute', async () => {
    stack.sb.clock.advance(12 * 60 * 60_000 + 1000);
    const r = await admin.get('/');
    expect(r.status).toBe(303);
    expect(r.location).toBe('/sign-in?next=%2F');

    // At the start of a limit window (a minute), so the tries below all fall in one.
    stack.sb.clock.advance(60_000 - (stack.sb.clock.now() % 60_000) + 10);
    // Each try from a browser of its own: the count is the address's, not the cookie's.
    for (let i = 0; i < 10; i++) {
      const agent = new Agent(stack.url, search);
      const csrf = csrfIn((await agent.get('/sign-in')).text);
      expect((await agent.post('/sign-in', { csrf, next: '/', token: `wrong-${i}` })).status).toBe(401);
    }
    const late = new Agent(stack.url, search);
    const lateCsrf = csrfIn((await late.get('/sign-in')).text);
    const paused = await late.post('/sign-in', { csrf: lateCsrf, next: '/', token: stack.adminToken! });
    expect(paused.status).toBe(429);
    expect(paused.text).toContain('Wait a minute');
    expect(paused.cookies.some((c) => /Max-Age=43200/.test(c))).toBe(false);
    // The pause ends with its minute: the admin signs in again.
    stack.sb.clock.advance(61_000);
    expect(
      (await late.post('/sign-in', { csrf: lateCsrf, next: '/', token: stack.adminToken! })).status,
    ).toBe(303);
  });
});

describe('dashboard in dev mode', () => {
  let open: ServiceStack;
  let guarded: ServiceStack;

  beforeAll(async () => {
    open = await startServiceStack({
      env: {
        NOON_CONNECT_MODE: 'dev',
        NOON_CONNECT_ADMIN_TOKEN: undefined,
        NOON_CONNECT_API_TOKEN: undefined,
      },
    });
    guarded = await startServiceStack({ sandbox: open.sb, env: { NOON_CONNECT_MODE: 'dev' } });
  });

  afterAll(async () => {
    await guarded?.close();
    await open?.close();
  });

  it('H1 without an admin token the dashboard asks for sign-in; the link made at start signs in and lands on a clean URL', async () => {
    const search = new SecretSearch();
    const agent = new Agent(open.url, search);
    const home = await agent.get('/');
    expect(home.status).toBe(303);
    expect(home.location).toBe('/sign-in?next=%2F');
    const form = await agent.get('/sign-in');
    expect(form.status).toBe(200);
    expect(form.text).toContain('sign-in link');
    expect(form.text).not.toContain('Connect a seller');
    expect((await agent.get('/sign-in?token=not-the-token-of-this-start')).status).toBe(401);

    const link = new URL(open.service.signInUrl!);
    expect(`${link.origin}${link.pathname}`).toBe(`${open.url}/sign-in`);
    expect(link.searchParams.get('token')).toBe(open.service.devToken);
    const signedIn = await agent.send(`${link.pathname}${link.search}`, { capture: false });
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe('/');
    expect(signedIn.headers.get('referrer-policy')).toBe('no-referrer');
    const page = await agent.get('/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('signed in with this start’s token');
    expect(page.text).not.toContain(open.service.devToken!);
    for (const path of PAGES) expect((await agent.get(path)).status, path).toBe(200);
    expect((await agent.get('/sign-in')).location).toBe('/');
    expect((await agent.post('/connect-seller', { tenant: 'demo' })).status).toBe(403);
    const ok = await agent.post('/connect-seller', { tenant: 'demo', csrf: csrfIn(page.text) });
    expect(ok.status).toBe(303);
    expect(ok.location).toMatch(new RegExp(`^${open.url}/connect/start\\?t=`));
    // The token works as the sign-in form's token too (pasted from the link).
    const other = new Agent(open.url, search);
    const otherForm = await other.get('/sign-in');
    expect(
      (
        await other.post('/sign-in', {
          csrf: csrfIn(otherForm.text),
          next: '/',
          token: open.service.devToken!,
        })
      ).status,
    ).toBe(303);
  });

  it('without an admin token, a Host that is not loopback (DNS rebinding) is refused', async () => {
    for (const host of ['evil.example', 'evil.example:8787', '192.168.1.20']) {
      const r = await open.service.fetch(new Request(`${open.url}/`, { headers: { host } }));
      expect(r.status, host).toBe(403);
      const text = await r.text();
      expect(text).toContain('NOON_CONNECT_ADMIN_TOKEN');
      expect(text).not.toContain('Connect a seller');
    }
    // Loopback names get as far as the sign-in.
    for (const host of ['127.0.0.1:1', 'localhost', '[::1]:8787']) {
      const r = await open.service.fetch(new Request(`${open.url}/`, { headers: { host } }));
      expect(r.status, host).toBe(303);
      expect(r.headers.get('location'), host).toBe('/sign-in?next=%2F');
    }
  });

  it('with an admin token, dev mode asks for sign-in with it and has no sign-in link', async () => {
    expect(guarded.service.devToken).toBeUndefined();
    expect(guarded.service.signInUrl).toBeUndefined();
    const agent = new Agent(guarded.url, new SecretSearch());
    const r = await agent.get('/');
    expect(r.status).toBe(303);
    expect(r.location).toBe('/sign-in?next=%2F');
    const form = await agent.get('/sign-in');
    // A token in the address is not a sign-in outside tokenless dev mode.
    expect((await agent.get(`/sign-in?token=${encodeURIComponent(guarded.adminToken!)}`)).status).toBe(200);
    expect((await agent.get('/')).status).toBe(303);
    const ok = await agent.post('/sign-in', {
      csrf: csrfIn(form.text),
      next: '/',
      token: guarded.adminToken!,
    });
    expect(ok.status).toBe(303);
    expect((await agent.get('/')).status).toBe(200);
  });
});

describe('dashboard behind https', () => {
  let stack: ServiceStack;

  beforeAll(async () => {
    stack = await startServiceStack({
      env: { NOON_CONNECT_PUBLIC_URL: 'https://connect.example.test' },
      deps: { listen: false },
    });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('C8 the session cookie is __Host- prefixed and Secure when the public URL is https, before and after sign-in', async () => {
    const origin = 'https://connect.example.test';
    const form = await stack.service.fetch(new Request(`${origin}/sign-in`));
    expect(form.status).toBe(200);
    const [pre] = form.headers.getSetCookie();
    expect(pre).toMatch(/^__Host-nc_dash=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
    const cookie = pre!.split(';')[0]!;
    const signedIn = await stack.service.fetch(
      new Request(`${origin}/sign-in`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: csrfIn(await form.text()), next: '/', token: stack.adminToken! }),
      }),
    );
    expect(signedIn.status).toBe(303);
    const [session] = signedIn.headers.getSetCookie();
    expect(session).toMatch(
      /^__Host-nc_dash=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Secure; Max-Age=43200$/,
    );
    // The same value under the name without the prefix is not the session cookie.
    const value = session!.split(';')[0]!.split('=')[1]!;
    expect(
      (await stack.service.fetch(new Request(`${origin}/`, { headers: { cookie: `nc_dash=${value}` } })))
        .status,
    ).toBe(303);
    expect(
      (
        await stack.service.fetch(
          new Request(`${origin}/`, { headers: { cookie: `__Host-nc_dash=${value}` } }),
        )
      ).status,
    ).toBe(200);
  });
});
