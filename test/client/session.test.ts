// Sessions against the sandbox over real HTTP: login (NC5, NC6, K8), cookies (NC9, NC11), whoami (NC12),
// re-login on a session 401 (NC13, U5), renewal before the lifetime ends (NC4), single flight, request ids (NC39).

import { createPrivateKey, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createLoginJwt,
  NoonClient,
  NoonError,
  NoonSession,
  NoonTypeError,
  parseCredentials,
} from '../../src/client/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { integratorLogin, startSandbox } from '../helpers/sandbox.js';
import { caught, clientFor, integratorCredentials, recordingFetch } from './helpers.js';

let sb: Sandbox;
const clients: NoonClient[] = [];

function harness(options: Parameters<typeof clientFor>[1] = {}) {
  const h = clientFor(sb, options);
  clients.push(h.client);
  return h;
}

const count = (endpoint: string) => sb.journal.count({ endpoint });

function decode(jwt: string) {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
    input: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

/** node:http sends no User-Agent of its own (fetch would add one). */
function statusWithoutUserAgent(origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${origin}/identity/v1/whoami`, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeAll(async () => {
  sb = await startSandbox();
});
afterEach(() => {
  sb.faults.clear();
  sb.setSwitches({ secondLoginEndsFirst: false, errorReasons: true, gatewayRateLimit: null });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sb.close();
});

describe('login (NC5, NC6, NC7, NC9, NC11, K8)', () => {
  it('NC5 NC6 K8 login posts {token, default_project_code}; the JWT is RS256 with sub = key id, kid, iat from the injected clock, exp = iat + 300 and a UUID v4 jti', async () => {
    // Move the sandbox clock far from real time: the JWT must follow the injected clock, or login would fail.
    sb.clock.advance(3 * 3600_000);
    const rec = recordingFetch();
    const { client } = harness({ fetch: rec.fetch });
    const creds = await integratorCredentials(sb);
    const session = new NoonSession(client, creds);
    const before = Math.floor(sb.clock.now() / 1000);
    await session.login();
    const after = Math.floor(sb.clock.now() / 1000);
    const login = rec.calls.find((c) => c.url.endsWith('/identity/public/v1/api/login'))!;
    expect(login.method).toBe('POST');
    const body = JSON.parse(login.body!);
    expect(Object.keys(body).sort()).toEqual(['default_project_code', 'token']);
    expect(body.default_project_code).toBe(sb.fixtures.integrator.projectCode);
    const jwt = decode(body.token);
    expect(jwt.header).toEqual({ alg: 'RS256', typ: 'JWT', kid: creds.keyId });
    expect(jwt.payload.sub).toBe(creds.keyId);
    // The injected clock's second at signing (the test reads it around the call, which may cross a second).
    expect(jwt.payload.iat).toBeGreaterThanOrEqual(before);
    expect(jwt.payload.iat).toBeLessThanOrEqual(after);
    expect(Math.abs(jwt.payload.iat - Math.floor(Date.now() / 1000))).toBeGreaterThan(3 * 3600 - 5);
    expect(jwt.payload.exp).toBe(jwt.payload.iat + 300);
    expect(jwt.payload.jti).toMatch(UUID_V4);
    const pub = createPublicKey(sb.fixtures.integrator.key!.private_key);
    expect(verify('sha256', Buffer.from(jwt.input), pub, jwt.signature)).toBe(true);
    expect(login.status).toBe(200);
  });

  it('K8 10k login JWTs: all RS256 and verifying, sub = key id, iat = now, no jti repeated', async () => {
    const creds = await integratorCredentials(sb);
    const pub = createPublicKey(sb.fixtures.integrator.key!.private_key);
    const jtis = new Set<string>();
    const now = sb.clock.now();
    let wrong = 0;
    let verified = 0;
    for (let i = 0; i < 10_000; i++) {
      const t = decode(createLoginJwt(creds, now, () => crypto.randomUUID()));
      if (
        t.header.alg !== 'RS256' ||
        t.payload.sub !== creds.keyId ||
        t.payload.iat !== Math.floor(now / 1000)
      )
        wrong++;
      jtis.add(t.payload.jti);
      // Verifying every one would double the time; every 50th is checked against the public key.
      if (i % 50 === 0 && verify('sha256', Buffer.from(t.input), pub, t.signature)) verified++;
    }
    expect(wrong).toBe(0);
    expect(verified).toBe(200);
    expect(jtis.size).toBe(10_000);
  });

  it('NC3 a PKCS#8 key file logs in as well as the PKCS#1 one the sandbox issued', async () => {
    const key = sb.fixtures.integrator.key!;
    expect(key.private_key).toContain('BEGIN RSA PRIVATE KEY');
    const pkcs8 = createPrivateKey(key.private_key).export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(pkcs8).toContain('BEGIN PRIVATE KEY');
    const { client } = harness();
    for (const pem of [key.private_key, pkcs8]) {
      const who = await new NoonSession(client, parseCredentials({ ...key, private_key: pem })).whoami();
      expect(who.keyId).toBe(key.key_id);
    }
  });

  it('NC7 every request carries the configured User-Agent (the sandbox refuses requests without one)', async () => {
    const rec = recordingFetch();
    const { client } = harness({ fetch: rec.fetch, userAgent: 'acme-connect/2.0 (+https://acme.example)' });
    await new NoonSession(client, await integratorCredentials(sb)).whoami();
    expect(rec.calls.length).toBeGreaterThanOrEqual(2);
    for (const c of rec.calls)
      expect(c.headers['user-agent']).toBe('acme-connect/2.0 (+https://acme.example)');
    expect(await statusWithoutUserAgent(sb.url)).toBe(400);
    expect(() => new NoonClient({ environment: { local: sb.url }, userAgent: '' })).toThrow(NoonTypeError);
  });

  it('NC9 NC11 the session is the _npsid and _nprtnetid cookies from login; later calls send them and no Authorization header', async () => {
    const rec = recordingFetch();
    const { client } = harness({ fetch: rec.fetch });
    await new NoonSession(client, await integratorCredentials(sb)).whoami();
    const [login, whoami] = rec.calls;
    const set = login!.setCookies!.map((c) => c.split(';')[0]!);
    expect(set.map((c) => c.split('=')[0]).sort()).toEqual(['_nprtnetid', '_npsid']);
    expect(login!.setCookies!.every((c) => /Max-Age=2592000/.test(c) && /HttpOnly/.test(c))).toBe(true);
    expect(login!.headers.cookie).toBeUndefined();
    for (const c of set) expect(whoami!.headers.cookie).toContain(c);
    expect(whoami!.headers.authorization).toBeUndefined();
    expect(whoami!.status).toBe(200);
  });

  it('NC9 NC11 a cookie Noon sets on a later answer replaces the held one; a cookie it expires ends the session', async () => {
    const calls: { url: string; cookie: string | undefined }[] = [];
    let extraSetCookie: string | undefined;
    const fetchFn = async (input: string, init: RequestInit) => {
      calls.push({ url: input, cookie: new Headers(init.headers).get('cookie') ?? undefined });
      const res = await fetch(input, init);
      if (!extraSetCookie || !input.endsWith('/whoami')) return res;
      const headers = new Headers(res.headers);
      headers.append('set-cookie', extraSetCookie);
      extraSetCookie = undefined;
      return new Response(await res.arrayBuffer(), { status: res.status, headers });
    };
    const { client } = harness({ fetch: fetchFn });
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.whoami();
    // A rotated _nprtnetid is sent from then on (the sandbox, not knowing it, asks for a new login).
    extraSetCookie = '_nprtnetid=rotated-value; Max-Age=2592000; HttpOnly; Path=/';
    await session.whoami();
    const since = sb.journal.lastSeq;
    calls.length = 0;
    await session.whoami();
    expect(calls[0]!.cookie).toContain('_nprtnetid=rotated-value');
    expect(sb.journal.entries({ sinceSeq: since }).map((e) => `${e.endpoint} ${e.status}`)).toEqual([
      'whoami 401',
      'login 200',
      'whoami 200',
    ]);
    // An expired _npsid drops the session: the next call logs in first, with no 401.
    extraSetCookie = '_npsid=; Max-Age=0; Path=/';
    await session.whoami();
    expect(session.loggedIn).toBe(false);
    calls.length = 0;
    await session.whoami();
    expect(calls.map((c) => c.url.split('/').pop())).toEqual(['login', 'whoami']);
    expect(calls[0]!.cookie).toBeUndefined();
  });

  it('NC10 a login Noon refuses is UNAUTHENTICATED (unknown key) or FORBIDDEN (project not allowed), with no re-login loop', async () => {
    const { client } = harness();
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    const before = count('login');
    const unknown = new NoonSession(
      client,
      parseCredentials({ ...sb.fixtures.integrator.key!, key_id: 'no-such-key', private_key: stranger }),
    );
    const e1 = await caught(() => unknown.whoami());
    expect(e1).toBeInstanceOf(NoonError);
    expect(e1.code).toBe('UNAUTHENTICATED');
    expect(e1.endpoint).toBe('login');
    expect(count('login')).toBe(before + 1);
    const elsewhere = new NoonSession(client, await integratorCredentials(sb), { projectCode: 'PRJ20001' });
    const e2 = await caught(() => elsewhere.whoami());
    expect(e2.code).toBe('FORBIDDEN');
    expect(e2.reason).toBe('PROJECT_NOT_ALLOWED');
    expect(count('login')).toBe(before + 2);
  });
});

describe('whoami and generic requests (NC12, NC39)', () => {
  it('NC12 whoami says who is logged in', async () => {
    const { client } = harness();
    const who = await new NoonSession(client, await integratorCredentials(sb)).whoami();
    expect(who).toEqual({
      userCode: sb.fixtures.integrator.userCode,
      channelIdentifier: sb.fixtures.integrator.channelIdentifier,
      keyId: sb.fixtures.integrator.key!.key_id,
      projectCode: sb.fixtures.integrator.projectCode,
      projects: [sb.fixtures.integrator.projectCode],
    });
  });

  it('NC39 errors keep the X-Request-Id of the answer they came from', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    sb.addFault({
      endpoint: 'whoami',
      action: { type: 'status', status: 500, body: { code: 13, message: 'boom' } },
    });
    const err = await caught(() => session.whoami());
    expect(err.code).toBe('UPSTREAM');
    const last = sb.journal.entries({ endpoint: 'whoami' }).at(-1)!;
    expect(last.status).toBe(500);
    expect(err.requestId).toBe(last.requestId);
    const missing = await caught(() => session.request('GET', '/no/such/api'));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.requestId).toBe(sb.journal.entries({ endpoint: 'unknown' }).at(-1)!.requestId);
  });

  it('NC11 request() sends any call with the session cookies and returns parsed JSON; misuse is a coded TypeError', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    const r = await session.request('GET', '/identity/v1/whoami', { query: { verbose: 1 } });
    expect(r.status).toBe(200);
    expect((r.data as { user_code: string }).user_code).toBe(sb.fixtures.integrator.userCode);
    expect(r.requestId).toBe(sb.journal.entries({ endpoint: 'whoami' }).at(-1)!.requestId);
    for (const bad of ['https://evil.example/x', '//evil.example/x', 'relative', '/a?b=1', '/a b']) {
      const e = await caught(() => session.request('GET', bad));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('re-login on a session 401 (NC13, NC30, U5)', () => {
  it('NC13 U5 a session ended upstream (401 SESSION_REQUIRED) → one re-login and one resend', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.whoami();
    sb.setSwitches({ secondLoginEndsFirst: true });
    await integratorLogin(sb); // ends the client's session
    const since = sb.journal.lastSeq;
    const who = await session.whoami();
    expect(who.userCode).toBe(sb.fixtures.integrator.userCode);
    const seq = sb.journal
      .entries({ sinceSeq: since })
      .map((e) => `${e.endpoint} ${e.status} ${e.reason ?? ''}`.trim());
    expect(seq).toEqual(['whoami 401 SESSION_REQUIRED', 'login 200', 'whoami 200']);
  });

  it('NC13 a 401 that gives no reason at all also gets one re-login and one resend', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.whoami();
    sb.setSwitches({ secondLoginEndsFirst: true, errorReasons: false });
    await integratorLogin(sb);
    const since = sb.journal.lastSeq;
    await session.whoami();
    expect(sb.journal.entries({ sinceSeq: since }).map((e) => `${e.endpoint} ${e.status}`)).toEqual([
      'whoami 401',
      'login 200',
      'whoami 200',
    ]);
  });

  it('NC13 U5 a second 401 fails with UNAUTHENTICATED after exactly one re-login', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    const body = { code: 16, message: 'm', details: [{ reason: 'SESSION_EXPIRED' }] };
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 401, body }, times: 2 });
    const since = sb.journal.lastSeq;
    const err = await caught(() => session.whoami());
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.reason).toBe('SESSION_EXPIRED');
    expect(sb.journal.entries({ sinceSeq: since }).map((e) => `${e.endpoint} ${e.status}`)).toEqual([
      'whoami 401',
      'login 200',
      'whoami 401',
    ]);
  });

  it('NC13 a 401 with another reason (INVALID_CLIENT) is not a session failure: no re-login', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    const body = { code: 16, message: 'm', details: [{ reason: 'INVALID_CLIENT' }] };
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 401, body } });
    const before = count('login');
    const err = await caught(() => session.whoami());
    expect(err.code).toBe('INVALID_CLIENT');
    expect(count('login')).toBe(before);
  });

  it('NC13 SESSION_EXPIRED from the sandbox after 30 days (the client believing it live) → re-login and resend', async () => {
    // After login the client's clock falls 4 min behind the sandbox's, so it still thinks the session is live
    // when the sandbox has expired it (4 min also keeps the next login's iat within Noon's 5-min window).
    let skew = 0;
    const { client } = harness({ clock: { now: () => sb.clock.now() - skew }, sessionRenewBeforeMs: 0 });
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    skew = 4 * 60_000;
    sb.clock.advance(30 * 24 * 3600_000 + 60_000);
    const since = sb.journal.lastSeq;
    await session.whoami();
    expect(
      sb.journal
        .entries({ sinceSeq: since })
        .map((e) => `${e.endpoint} ${e.status} ${e.reason ?? ''}`.trim()),
    ).toEqual(['whoami 401 SESSION_EXPIRED', 'login 200', 'whoami 200']);
  });

  it('NC4 the session is renewed before its 30-day lifetime ends, by the injected clock: no 401 is ever seen', async () => {
    const { client, logs } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.whoami();
    sb.clock.advance(28 * 24 * 3600_000);
    let since = sb.journal.lastSeq;
    await session.whoami();
    expect(sb.journal.entries({ sinceSeq: since }).map((e) => e.endpoint)).toEqual(['whoami']);
    sb.clock.advance(24 * 3600_000 + 60_000); // 29 days and a minute: inside the renewal margin
    expect(session.loggedIn).toBe(false);
    since = sb.journal.lastSeq;
    await session.whoami();
    expect(sb.journal.entries({ sinceSeq: since }).map((e) => `${e.endpoint} ${e.status}`)).toEqual([
      'login 200',
      'whoami 200',
    ]);
    expect(logs.some((l) => l.event === 'relogin' && l.why === 'renew')).toBe(true);
  });
});

describe('single flight', () => {
  it('1,000 concurrent requests on a cold session → exactly one login', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    const before = count('login');
    const beforeWhoami = count('whoami');
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => session.request('GET', '/identity/v1/whoami')),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(count('login')).toBe(before + 1);
    expect(count('whoami')).toBe(beforeWhoami + 1000);
  });

  it('NC13 concurrent callers hit by one session 401 share one re-login', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    sb.setSwitches({ secondLoginEndsFirst: true });
    await integratorLogin(sb);
    const before = count('login');
    const results = await Promise.all(Array.from({ length: 50 }, () => session.whoami()));
    expect(results).toHaveLength(50);
    // One login by the client (the integratorLogin above was before `before`).
    expect(count('login')).toBe(before + 1);
  });

  it('a failed login is shared by its waiters and the next call tries again', async () => {
    const { client } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    sb.addFault({
      endpoint: 'login',
      action: { type: 'status', status: 403, body: { code: 7, details: [] } },
    });
    const before = count('login');
    const settled = await Promise.allSettled(Array.from({ length: 20 }, () => session.whoami()));
    expect(settled.every((s) => s.status === 'rejected' && s.reason.code === 'FORBIDDEN')).toBe(true);
    expect(count('login')).toBe(before + 1);
    await session.whoami();
    expect(count('login')).toBe(before + 2);
  });
});

describe('rate limits on the session (NC38)', () => {
  it('NC38 U7 a real per-project 429 with Retry-After is waited out (on the injected sleep) and resent', async () => {
    const { client, sleeps } = harness();
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    sb.setSwitches({ gatewayRateLimit: { limit: 2, windowMs: 5_000 } });
    const since = sb.journal.lastSeq;
    await session.whoami();
    await session.whoami();
    await session.whoami();
    const seq = sb.journal.entries({ sinceSeq: since }).map((e) => e.status);
    expect(seq).toEqual([200, 200, 429, 200]);
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThan(0);
    expect(sleeps[0]).toBeLessThanOrEqual(5_000);
  });
});
