// The admin API under /_sandbox/ against a running sandbox: every route works and refuses bad input clearly,
// the clock moves expiries (NC13), the journal records one entry per request and never a secret, and the
// adminToken option guards the whole API.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyFile, Sandbox } from '../../src/sandbox/index.js';
import { gw, integratorLogin, login, loginJwt, startSandbox } from '../helpers/sandbox.js';
import {
  CATALOG,
  cookieValues,
  expectErrorShape,
  expectNoSecrets,
  LOGIN,
  raw,
  UA,
  WHOAMI,
} from './gateway-helpers.js';

const DAY_MS = 24 * 3600_000;

let sb: Sandbox;
let cookie: string;
/** Every secret this file handled; none may show in the journal. */
const secrets = new Set<string>();

beforeAll(async () => {
  sb = await startSandbox();
  cookie = await integratorLogin(sb);
  for (const v of cookieValues(cookie)) secrets.add(v);
  secrets.add(sb.fixtures.integrator.key!.private_key);
  secrets.add(sb.fixtures.client.clientSecret);
});

afterAll(async () => {
  await sb?.close();
});

describe('status, clock', () => {
  it('GET /_sandbox and /_sandbox/status report the clock, pool, faults and journal position', async () => {
    for (const p of ['/_sandbox', '/_sandbox/', '/_sandbox/status']) {
      const res = await gw(sb, p);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({
        clock: expect.any(Number),
        pool: expect.objectContaining({ size: 4 }),
        faults: 0,
        journal: expect.any(Number),
      });
      expect(Math.abs(res.json.clock - sb.clock.now())).toBeLessThan(5_000);
    }
    const head = await raw(sb, '/_sandbox/status', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('NC13 POST /_sandbox/clock/advance moves expiries: a session expires after 30 days of sandbox time', async () => {
    const c = await login(sb, sb.fixtures.integrator.key!);
    for (const v of cookieValues(c)) secrets.add(v);
    const before = (await gw(sb, '/_sandbox/clock')).json;
    expect(before).toEqual({
      now: expect.any(Number),
      iso: expect.any(String),
      offset_ms: expect.any(Number),
    });
    const r1 = await gw(sb, '/_sandbox/clock/advance', { body: { seconds: 30 * 24 * 3600 - 60 } });
    expect(r1.status).toBe(200);
    expect(r1.json.offset_ms - before.offset_ms).toBe(30 * DAY_MS - 60_000);
    expect(new Date(r1.json.iso).getTime()).toBe(r1.json.now);
    expect((await gw(sb, WHOAMI, { cookie: c })).status).toBe(200);
    const r2 = await gw(sb, '/_sandbox/clock/advance', { body: { ms: 60_000 } });
    expect(r2.json.offset_ms - before.offset_ms).toBe(30 * DAY_MS);
    expectErrorShape(await gw(sb, WHOAMI, { cookie: c }), 401, 'SESSION_EXPIRED');
    // Zero is allowed and changes nothing.
    const r3 = await gw(sb, '/_sandbox/clock/advance', { body: { ms: 0 } });
    expect(r3.json.offset_ms).toBe(r2.json.offset_ms);
    cookie = await integratorLogin(sb);
    for (const v of cookieValues(cookie)) secrets.add(v);
  });

  it('POST /_sandbox/clock/advance refuses bad input with 400 and leaves the clock where it was', async () => {
    const offset = sb.clock.offsetMs;
    const bad: unknown[] = [
      {},
      { ms: -1 },
      { ms: '5' },
      { seconds: 'ten' },
      { ms: null },
      { ms: 1e300 },
      { seconds: 1e14 },
    ];
    for (const body of bad) {
      const res = await gw(sb, '/_sandbox/clock/advance', { body });
      expectErrorShape(res, 400, 'INVALID_ARGUMENT');
      expect(res.json.message).toMatch(/clock\.advance/);
    }
    for (const text of ['{', '[]', '"5"', '5']) {
      const res = await gw(sb, '/_sandbox/clock/advance', {
        raw: text,
        headers: { 'content-type': 'application/json' },
      });
      expectErrorShape(res, 400, 'INVALID_ARGUMENT');
      expect(res.json.message).toMatch(/JSON object/);
    }
    expect(() => sb.clock.advance(Number.NaN)).toThrow(TypeError);
    expect(sb.clock.offsetMs).toBe(offset);
    expect((await gw(sb, '/_sandbox/clock')).status).toBe(200);
  });
});

describe('journal', () => {
  it('one entry per request: method, path, endpoint, status, duration and request id, no query string', async () => {
    const since = sb.journal.lastSeq;
    const token = await loginJwt(sb.fixtures.integrator.key!, { nowS: Math.floor(sb.clock.now() / 1000) });
    secrets.add(token);
    const requests = [
      await raw(sb, `${WHOAMI}?token=${token}&secret=hunter2`, { headers: { 'user-agent': UA, cookie } }),
      await raw(sb, CATALOG, { headers: { 'user-agent': UA, cookie } }),
      await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: '{' }),
      await raw(sb, '/nowhere?x=1'),
      await raw(sb, `/?client_id=${sb.fixtures.client.clientId}&state=statesecret-${'s'.repeat(20)}`),
    ];
    const entries = sb.journal.entries({ sinceSeq: since });
    expect(entries).toHaveLength(requests.length);
    const expected: [string, string, string, number][] = [
      ['GET', WHOAMI, 'whoami', 200],
      ['GET', CATALOG, 'catalog.items', 200],
      ['POST', LOGIN, 'login', 400],
      ['GET', '/nowhere', 'unknown', 404],
      ['GET', '/', 'consent', requests[4]!.status],
    ];
    const allowed = new Set([
      'seq',
      'at',
      'method',
      'path',
      'endpoint',
      'status',
      'durationMs',
      'requestId',
      'project',
      'sellerProject',
      'keyId',
      'session',
      'userAgent',
      'reason',
      'fault',
    ]);
    entries.forEach((e, i) => {
      const [method, path, endpoint, status] = expected[i]!;
      expect(e).toMatchObject({
        method,
        path,
        endpoint,
        status,
        requestId: requests[i]!.headers['x-request-id'],
      });
      expect(e.durationMs).toBeGreaterThanOrEqual(0);
      expect(e.durationMs).toBeLessThan(10_000);
      expect(e.path).not.toContain('?');
      for (const k of Object.keys(e)) expect(allowed.has(k), k).toBe(true);
    });
    expect(entries[0]!.project).toBe(sb.fixtures.integrator.projectCode);
    expect(entries[2]!.reason).toBe('MALFORMED_JSON');
    const text = JSON.stringify(entries);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('statesecret');
  });

  it('GET /_sandbox/journal filters by endpoint, method, status and since; bad numbers → 400; DELETE clears', async () => {
    const since = sb.journal.lastSeq;
    await gw(sb, WHOAMI);
    await gw(sb, WHOAMI, { cookie });
    const all = await gw(sb, `/_sandbox/journal?since=${since}`);
    expect(all.json.entries.map((e: { endpoint: string }) => e.endpoint)).toEqual(['whoami', 'whoami']);
    const failed = await gw(sb, `/_sandbox/journal?since=${since}&endpoint=whoami&status=401&method=GET`);
    expect(failed.json.entries).toHaveLength(1);
    expect(failed.json.entries[0].reason).toBe('SESSION_REQUIRED');
    for (const q of ['status=abc', 'since=1e999', 'since=x']) {
      const res = await gw(sb, `/_sandbox/journal?${q}`);
      expectErrorShape(res, 400, 'INVALID_ARGUMENT');
      expect(res.json.message).toMatch(/must be a number/);
    }
    expectNoSecrets(JSON.stringify(sb.journal.entries()), secrets);
    expect((await gw(sb, '/_sandbox/journal', { method: 'DELETE' })).status).toBe(200);
    // The clearing request is journalled once it is answered, so it is all that is left; then the listing.
    const after = await gw(sb, '/_sandbox/journal');
    expect(after.json.entries).toEqual([
      expect.objectContaining({
        method: 'DELETE',
        path: '/_sandbox/journal',
        endpoint: 'admin',
        status: 200,
      }),
    ]);
    expect(sb.journal.count()).toBe(2);
  });
});

describe('fixtures and world', () => {
  it('GET /_sandbox/fixtures lists integrators, clients (with the secret) and sellers', async () => {
    const res = await gw(sb, '/_sandbox/fixtures');
    expect(res.status).toBe(200);
    expect(res.json.integrators[0]).toMatchObject({
      project_code: sb.fixtures.integrator.projectCode,
      user_code: sb.fixtures.integrator.userCode,
    });
    expect(res.json.integrators[0]).not.toHaveProperty('key');
    expect(res.json.clients[0]).toMatchObject({
      client_id: sb.fixtures.client.clientId,
      client_secret: sb.fixtures.client.clientSecret,
    });
    expect(res.json.sellers.map((s: { email: string }) => s.email)).toContain(sb.fixtures.seller.email);
  });

  it('POST /_sandbox/authorize issues a code; bad input → 400 or 404 with a clear message; GET /_sandbox/requests lists it', async () => {
    const ok = await gw(sb, '/_sandbox/authorize', { body: { project_code: 'PRJ20002' } });
    expect(ok.status).toBe(201);
    expect(ok.json).toEqual({
      code: expect.any(String),
      state: expect.any(String),
      location: expect.stringContaining('code='),
      oauth_request_id: expect.any(String),
    });
    secrets.add(ok.json.code);
    const reqs = await gw(sb, '/_sandbox/requests');
    const mine = reqs.json.requests.find((r: { id: string }) => r.id === ok.json.oauth_request_id);
    expect(mine).toMatchObject({ sellerProject: 'PRJ20002', status: 'AUTHORIZED' });
    const bad: [unknown, number, RegExp][] = [
      [{ client_id: 'nobody' }, 404, /unknown client_id/],
      [{ email: 'ghost@sellers.example' }, 404, /no seller matches/],
      [{ email: 'omar@sellers.example', project_code: 'PRJ20001' }, 400, /no such project/],
      [{ redirect_uri: 'https://evil.example/cb' }, 400, /redirect_uri is not registered/],
      [{ email: 5 }, 400, /email must be a string/],
      [{ client_id: ['acme-connect'] }, 400, /client_id must be a string/],
    ];
    for (const [body, status, message] of bad) {
      const res = await gw(sb, '/_sandbox/authorize', { body });
      expectErrorShape(res, status);
      expect(res.json.message).toMatch(message);
    }
  });

  it('GET /_sandbox/accounts lists accounts with key metadata only, filterable by project', async () => {
    const res = await gw(sb, '/_sandbox/accounts');
    expect(res.status).toBe(200);
    const integrator = res.json.accounts.find(
      (a: { userCode: string }) => a.userCode === sb.fixtures.integrator.userCode,
    );
    expect(integrator.keys[0]).toMatchObject({ keyId: sb.fixtures.integrator.key!.key_id, active: true });
    expect(res.text).not.toContain('PRIVATE KEY');
    expect(res.text).not.toContain('PUBLIC KEY');
    const none = await gw(sb, '/_sandbox/accounts?project=PRJ77777');
    expect(none.json.accounts).toEqual([]);
  });

  it('GET /_sandbox/ledger lists issued credentials with filters; bad filters → 400', async () => {
    const all = await gw(sb, '/_sandbox/ledger');
    expect(all.status).toBe(200);
    expect(all.json.credentials.length).toBeGreaterThanOrEqual(1);
    const fixture = await gw(sb, '/_sandbox/ledger?via=fixture&delivered=true');
    expect(fixture.json.credentials[0]).toMatchObject({
      keyId: sb.fixtures.integrator.key!.key_id,
      via: 'fixture',
      delivered: true,
    });
    expect((await gw(sb, '/_sandbox/ledger?via=exchange')).json.credentials).toEqual([]);
    expect((await gw(sb, '/_sandbox/ledger?owner_project=PRJ55555')).json.credentials).toEqual([]);
    expect(all.text).not.toContain('PRIVATE KEY');
    const v = await gw(sb, '/_sandbox/ledger?via=magic');
    expectErrorShape(v, 400, 'INVALID_ARGUMENT');
    expect(v.json.message).toMatch(/via must be one of/);
    const d = await gw(sb, '/_sandbox/ledger?delivered=maybe');
    expectErrorShape(d, 400, 'INVALID_ARGUMENT');
    expect(d.json.message).toMatch(/delivered must be true or false/);
  });

  it('GET /_sandbox/pool reports the key pool', async () => {
    const res = await gw(sb, '/_sandbox/pool');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      ready: expect.any(Number),
      size: 4,
      refilling: expect.any(Boolean),
      generated: expect.any(Number),
      fromCache: expect.any(Number),
    });
  });

  it('GET/PATCH/POST /_sandbox/switches read and change switches; bad switches → 400 naming them', async () => {
    const read = await gw(sb, '/_sandbox/switches');
    expect(read.json).toMatchObject({ requireUserAgent: true, errorReasons: true, gatewayRateLimit: null });
    const patched = await gw(sb, '/_sandbox/switches', { method: 'PATCH', body: { errorReasons: false } });
    expect(patched.status).toBe(200);
    expect(patched.json.errorReasons).toBe(false);
    const res = await gw(sb, WHOAMI);
    expect(res.status).toBe(401);
    expect(res.json.details).toEqual([]);
    const posted = await gw(sb, '/_sandbox/switches', { body: { errorReasons: true } });
    expect(posted.json.errorReasons).toBe(true);
    const bad: [unknown, RegExp][] = [
      [{ noSuchSwitch: true }, /unknown switch noSuchSwitch/],
      [{ requireUserAgent: 'yes' }, /switch requireUserAgent has a bad value/],
      [{ gatewayRateLimit: { limit: 0, windowMs: 1000 } }, /switch gatewayRateLimit/],
      [{ maxBodyBytes: -1 }, /switch maxBodyBytes/],
      [{ apiUserPaths: { create: 'x', list: '/l', remove: '/r' } }, /switch apiUserPaths/],
    ];
    for (const [body, message] of bad) {
      const r = await gw(sb, '/_sandbox/switches', { method: 'PATCH', body });
      expectErrorShape(r, 400, 'INVALID_ARGUMENT');
      expect(r.json.message).toMatch(message);
    }
    expectErrorShape(
      await gw(sb, '/_sandbox/switches', {
        method: 'PATCH',
        raw: '[1]',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'INVALID_ARGUMENT',
    );
    expect((await gw(sb, '/_sandbox/switches')).json).toEqual(read.json);
  });

  it('POST /_sandbox/integrators, /clients and /sellers add working fixtures; bad input → 400 naming the field', async () => {
    const integ = await gw(sb, '/_sandbox/integrators', { body: { project_code: 'PRJ30001', name: 'Beta' } });
    expect(integ.status).toBe(201);
    const key = integ.json.key as KeyFile;
    secrets.add(key.private_key);
    expect(integ.json.project_code).toBe('PRJ30001');
    const c = await login(sb, key);
    for (const v of cookieValues(c)) secrets.add(v);
    expect((await gw(sb, WHOAMI, { cookie: c })).json.project_code).toBe('PRJ30001');

    const client = await gw(sb, '/_sandbox/clients', {
      body: { project_code: 'PRJ30001', redirect_uris: ['https://beta.example/cb'] },
    });
    expect(client.status).toBe(201);
    secrets.add(client.json.client_secret);
    expect(client.json).toMatchObject({
      project_code: 'PRJ30001',
      redirect_uris: ['https://beta.example/cb'],
    });
    expect(client.json.client_id).toMatch(/^client-/);

    const seller = await gw(sb, '/_sandbox/sellers', {
      body: { email: 'Nadia@Sellers.example', projects: [{ project_code: 'PRJ40001', name: 'Nadia' }] },
    });
    expect(seller.status).toBe(201);
    expect(seller.json).toMatchObject({ email: 'nadia@sellers.example', projects: ['PRJ40001'] });
    const code = await gw(sb, '/_sandbox/authorize', {
      body: { client_id: client.json.client_id, email: 'nadia@sellers.example' },
    });
    expect(code.status).toBe(201);
    secrets.add(code.json.code);

    const bad: [string, unknown, RegExp][] = [
      ['/_sandbox/integrators', {}, /integrators\[0\]\.project_code must be a non-empty string/],
      ['/_sandbox/integrators', { project_code: 'bad code!' }, /integrators\[0\]\.project_code must match/],
      ['/_sandbox/clients', { project_code: 'PRJ88888' }, /no project PRJ88888/],
      ['/_sandbox/clients', { redirect_uris: ['not a url'] }, /clients\[0\]\.redirect_uris/],
      ['/_sandbox/clients', { client_id: 7 }, /clients\[0\]\.client_id/],
      ['/_sandbox/sellers', { email: 'x@y.example' }, /sellers\[0\]\.projects must be a non-empty array/],
      [
        '/_sandbox/sellers',
        { email: 'x@y.example', projects: [{}] },
        /sellers\[0\]\.projects\[0\]\.project_code/,
      ],
      ['/_sandbox/sellers', { projects: [{ project_code: 'PRJ1' }] }, /sellers\[0\]\.email/],
    ];
    for (const [path, body, message] of bad) {
      const r = await gw(sb, path, { body });
      expectErrorShape(r, 400, 'INVALID_ARGUMENT');
      expect(r.json.message, path).toMatch(message);
    }
  });

  it('unknown admin routes → 404; a known route with the wrong method → 405 with Allow', async () => {
    expectErrorShape(await gw(sb, '/_sandbox/nothing'), 404, 'NOT_FOUND');
    expectErrorShape(await gw(sb, '/_sandbox/faults/fault-999', { method: 'DELETE' }), 404, 'NOT_FOUND');
    const cases: [string, string, string][] = [
      ['PUT', '/_sandbox/faults', 'GET, POST, DELETE'],
      ['GET', '/_sandbox/clock/advance', 'POST'],
      ['DELETE', '/_sandbox/ledger', 'GET'],
      ['GET', '/_sandbox/authorize', 'POST'],
      ['POST', '/_sandbox/journal', 'GET, DELETE'],
    ];
    for (const [method, path, allow] of cases) {
      const r = await gw(sb, path, { method, ...(method === 'GET' ? {} : { body: {} }) });
      expectErrorShape(r, 405, 'METHOD_NOT_ALLOWED');
      expect(r.headers.get('allow')).toBe(allow);
    }
  });

  it('the journal never holds any secret this file used (JWTs, cookies, PEM, client secrets, codes)', () => {
    expect(secrets.size).toBeGreaterThan(8);
    expectNoSecrets(JSON.stringify(sb.journal.entries()), secrets);
  });
});

describe('adminToken', () => {
  it('with adminToken, /_sandbox/ needs Authorization: Bearer <token> (else 401); the gateway is unaffected', async () => {
    const token = 'admin-token-for-tests-4f1c9a';
    const guarded = await startSandbox({ adminToken: token });
    try {
      for (const authorization of [
        undefined,
        `Bearer ${token}x`,
        `Bearer ${token.slice(0, -1)}`,
        token,
        `bearer ${token}`,
      ]) {
        const res = await gw(
          guarded,
          '/_sandbox/status',
          authorization ? { headers: { authorization } } : {},
        );
        expectErrorShape(res, 401, 'ADMIN_TOKEN_REQUIRED');
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
      // Refused before anything runs: no fault was added.
      const add = await gw(guarded, '/_sandbox/faults', {
        body: { endpoint: 'whoami', action: { type: 'hang' } },
      });
      expect(add.status).toBe(401);
      expect(guarded.faults.list()).toEqual([]);
      const ok = await gw(guarded, '/_sandbox/status', { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      // The gateway does not use the admin token.
      const c = await integratorLogin(guarded);
      expect((await gw(guarded, WHOAMI, { cookie: c })).status).toBe(200);
      expect(JSON.stringify(guarded.journal.entries())).not.toContain(token);
    } finally {
      await guarded.close();
    }
  });
});
