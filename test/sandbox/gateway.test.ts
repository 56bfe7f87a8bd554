// Gateway-wide rules against a running sandbox: User-Agent (NC7), JSON without Content-Type (NC8), the error
// shape (NC37), per-project rate limits (NC38), X-Request-Id (NC39), the seller catalog (NC41), and bad input
// that must never take the server down.

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyFile, Sandbox } from '../../src/sandbox/index.js';
import { gw, integratorLogin, login, loginJwt, startSandbox } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';
import {
  CATALOG,
  connectSeller,
  cookieValues,
  expectErrorShape,
  expectNoSecrets,
  LOGIN,
  type RawResponse,
  raw,
  UA,
  WHOAMI,
} from './gateway-helpers.js';

let sb: Sandbox;
let cookie: string;
let sellerA: KeyFile;
let sellerB: KeyFile;
/** Errors the sandbox itself reported as unexpected: bad input must never produce one. */
const unexpected: unknown[] = [];
/** Secrets this file handled (codes, access tokens, seller PEMs, cookies, login JWTs, the client secret). */
const secrets = new Set<string>();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function loginBody(): Promise<string> {
  const key = sb.fixtures.integrator.key!;
  const token = await loginJwt(key, { nowS: Math.floor(sb.clock.now() / 1000) });
  secrets.add(token);
  return JSON.stringify({ token, default_project_code: key.project_code });
}

/** The server still answers a normal request. */
async function stillServing(): Promise<void> {
  const res = await gw(sb, WHOAMI, { cookie });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  sb = await startSandbox({ onError: (e) => unexpected.push(e) });
  cookie = await integratorLogin(sb);
  for (const v of cookieValues(cookie)) secrets.add(v);
  sellerA = await connectSeller(sb, 'PRJ20001', secrets);
  sellerB = await connectSeller(sb, 'PRJ20003', secrets);
});

afterAll(async () => {
  await sb?.close();
});

describe('User-Agent (NC7)', () => {
  it('NC7 NC37 a gateway request without User-Agent → 400 USER_AGENT_REQUIRED in the error shape, on every gateway path', async () => {
    const body = await loginBody();
    const cases: [string, string, string | undefined][] = [
      ['POST', LOGIN, body],
      ['GET', WHOAMI, undefined],
      ['GET', CATALOG, undefined],
      ['POST', '/identity/oauth/v1/token/create', '{}'],
      ['POST', '/identity/oauth/v1/token/exchange', '{}'],
      ['POST', '/identity/v1/api_users/credentials/list', '{}'],
    ];
    for (const [method, path, b] of cases) {
      const res = await raw(sb, path, {
        method,
        headers: { cookie, 'content-type': 'application/json' },
        ...(b !== undefined ? { body: b } : {}),
      });
      expectErrorShape(res, 400, 'USER_AGENT_REQUIRED');
      expect(res.json.code).toBe(3);
    }
    // The same login with a User-Agent goes through: only the header was missing.
    const ok = await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body });
    expect(ok.status).toBe(200);
  });

  it('NC7 an empty User-Agent counts as missing; the consent page and the admin API do not need one', async () => {
    const res = await raw(sb, WHOAMI, { headers: { cookie, 'user-agent': '' } });
    expectErrorShape(res, 400, 'USER_AGENT_REQUIRED');
    expect((await raw(sb, '/')).status).toBe(200);
    expect((await raw(sb, '/_sandbox/status')).status).toBe(200);
  });

  it('NC7 the requireUserAgent switch turns the check off', async () => {
    sb.setSwitches({ requireUserAgent: false });
    try {
      const res = await raw(sb, LOGIN, { body: await loginBody() });
      expect(res.status, res.text).toBe(200);
      expect((await raw(sb, WHOAMI, { headers: { cookie } })).status).toBe(200);
    } finally {
      sb.setSwitches({ requireUserAgent: true });
    }
    expectErrorShape(await raw(sb, WHOAMI, { headers: { cookie } }), 400, 'USER_AGENT_REQUIRED');
  });
});

describe('JSON bodies (NC8)', () => {
  it('NC8 a JSON body without Content-Type is accepted, and so is one labelled text/plain', async () => {
    const none = await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: await loginBody() });
    expect(none.status, none.text).toBe(200);
    expect(none.cookies.length).toBe(2);
    const plain = await raw(sb, LOGIN, {
      headers: { 'user-agent': UA, 'content-type': 'text/plain' },
      body: await loginBody(),
    });
    expect(plain.status).toBe(200);
  });

  it('NC8 NC37 malformed JSON → 400 MALFORMED_JSON; JSON that is not an object → 400 INVALID_ARGUMENT', async () => {
    for (const b of ['{"token":', '{token: 1}', "{'a':1}", '', '\u0000', '{"a":1}}']) {
      const res = await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: b });
      expectErrorShape(res, 400, 'MALFORMED_JSON');
    }
    for (const b of ['null', '[]', '"token"', '42', 'true']) {
      const res = await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: b });
      expectErrorShape(res, 400, 'INVALID_ARGUMENT');
    }
    await stillServing();
  });

  it('NC8 the requireJsonContentType switch → 415 unless Content-Type is application/json', async () => {
    sb.setSwitches({ requireJsonContentType: true });
    try {
      for (const ct of [undefined, 'text/plain', 'application/jsonx', 'application/x-www-form-urlencoded']) {
        const res = await raw(sb, LOGIN, {
          headers: { 'user-agent': UA, ...(ct ? { 'content-type': ct } : {}) },
          body: await loginBody(),
        });
        expectErrorShape(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
        expect(res.cookies).toEqual([]);
      }
      for (const ct of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
        const res = await raw(sb, LOGIN, {
          headers: { 'user-agent': UA, 'content-type': ct },
          body: await loginBody(),
        });
        expect(res.status, `${ct}: ${res.text}`).toBe(200);
      }
    } finally {
      sb.setSwitches({ requireJsonContentType: false });
    }
    expect((await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: await loginBody() })).status).toBe(
      200,
    );
  });
});

describe('error shape (NC37)', () => {
  it('NC37 400, 401, 403, 404, 405, 413 and 429 all use {code, message, details:[ErrorInfo with reason]}', async () => {
    const key = sb.fixtures.integrator.key!;
    const forbidden = await gw(sb, LOGIN, {
      body: {
        token: await loginJwt(key, { nowS: Math.floor(sb.clock.now() / 1000) }),
        default_project_code: 'PRJ20001',
      },
    });
    const tooBig = await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: 'x'.repeat(1024 * 1024 + 1) });
    const cases: [RawResponse | { status: number; json: any; text: string }, number, string, number][] = [
      [await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: '{' }), 400, 'MALFORMED_JSON', 3],
      [await gw(sb, WHOAMI), 401, 'SESSION_REQUIRED', 16],
      [forbidden, 403, 'PROJECT_NOT_ALLOWED', 7],
      [await gw(sb, '/identity/v1/nowhere'), 404, 'NOT_FOUND', 5],
      [await gw(sb, LOGIN), 405, 'METHOD_NOT_ALLOWED', 12],
      [tooBig, 413, 'PAYLOAD_TOO_LARGE', 3],
    ];
    sb.setSwitches({ gatewayRateLimit: { limit: 1, windowMs: 60_000 } });
    try {
      await gw(sb, WHOAMI, { cookie });
      cases.push([await gw(sb, WHOAMI, { cookie }), 429, 'RATE_LIMITED', 8]);
    } finally {
      sb.setSwitches({ gatewayRateLimit: null });
    }
    for (const [res, status, reason, grpc] of cases) {
      expectErrorShape(res, status, reason);
      expect(res.json.code).toBe(grpc);
      expect(res.json.details[0].domain).toBe('noon.partners');
    }
  });

  it('NC37 a 405 names the allowed method in Allow', async () => {
    const res = await gw(sb, WHOAMI, { method: 'DELETE', cookie });
    expectErrorShape(res, 405, 'METHOD_NOT_ALLOWED');
    expect(res.headers.get('allow')).toBe('GET');
    const post = await gw(sb, LOGIN, { method: 'PUT', body: {} });
    expect(post.headers.get('allow')).toBe('POST');
  });
});

describe('rate limits (NC38)', () => {
  it('NC38 the gateway rate limit is off by default: 60 quick requests of one project all succeed', async () => {
    expect(sb.switches.gatewayRateLimit).toBeNull();
    const results = await Promise.all(Array.from({ length: 60 }, () => gw(sb, WHOAMI, { cookie })));
    expect(results.every((r) => r.status === 200)).toBe(true);
  });

  it('NC38 with gatewayRateLimit on, a project over its limit gets 429 with Retry-After and X-Ratelimit-Retry-After; another project is unaffected', async () => {
    const a = await login(sb, sellerA);
    const b = await login(sb, sellerB);
    sb.setSwitches({ gatewayRateLimit: { limit: 3, windowMs: 60_000 } });
    try {
      for (let i = 0; i < 3; i++) expect((await gw(sb, CATALOG, { cookie: a })).status).toBe(200);
      const limited = await gw(sb, WHOAMI, { cookie: a });
      expectErrorShape(limited, 429, 'RATE_LIMITED');
      const retry = Number(limited.headers.get('retry-after'));
      expect(Number.isInteger(retry)).toBe(true);
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(60);
      expect(limited.headers.get('x-ratelimit-retry-after')).toBe(String(retry));
      // Project B (another seller) and the integrator project keep their own budgets.
      for (let i = 0; i < 3; i++) expect((await gw(sb, CATALOG, { cookie: b })).status).toBe(200);
      expect((await gw(sb, WHOAMI, { cookie })).status).toBe(200);
      expect((await gw(sb, CATALOG, { cookie: b })).status).toBe(429);
      // The window passes on the sandbox clock.
      sb.clock.advance(30_000);
      const later = await gw(sb, WHOAMI, { cookie: a });
      expect(later.status).toBe(429);
      expect(Number(later.headers.get('retry-after'))).toBeLessThanOrEqual(30);
      sb.clock.advance(30_000);
      expect((await gw(sb, WHOAMI, { cookie: a })).status).toBe(200);
      expect(sb.journal.count({ endpoint: 'whoami', status: 429 })).toBeGreaterThanOrEqual(2);
    } finally {
      sb.setSwitches({ gatewayRateLimit: null });
    }
    const after = await Promise.all(Array.from({ length: 10 }, () => gw(sb, WHOAMI, { cookie: a })));
    expect(after.every((r) => r.status === 200)).toBe(true);
  });
});

describe('X-Request-Id (NC39)', () => {
  it('NC39 every response carries a unique X-Request-Id, errors included, and the journal names each one', async () => {
    const since = sb.journal.lastSeq;
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 503, body: { oops: true } } });
    sb.addFault({
      endpoint: 'catalog.items',
      action: { type: 'redirect', location: 'https://elsewhere.example/' },
    });
    const responses: { status: number; id: string | undefined }[] = [];
    const push = (r: RawResponse) =>
      responses.push({ status: r.status, id: r.headers['x-request-id'] as string | undefined });
    push(await raw(sb, WHOAMI, { headers: { 'user-agent': UA, cookie } })); // fault 503
    push(await raw(sb, CATALOG, { headers: { 'user-agent': UA, cookie } })); // fault 302
    push(await raw(sb, WHOAMI, { headers: { 'user-agent': UA, cookie } })); // 200
    push(await raw(sb, CATALOG, { headers: { 'user-agent': UA, cookie } })); // 200
    push(await raw(sb, WHOAMI, { headers: { cookie } })); // 400
    push(await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: '{' })); // 400
    push(await raw(sb, WHOAMI, { headers: { 'user-agent': UA } })); // 401
    push(await raw(sb, '/nope', { headers: { 'user-agent': UA } })); // 404
    push(await raw(sb, LOGIN, { headers: { 'user-agent': UA } })); // 405
    push(await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: Buffer.alloc(1024 * 1024 + 10) })); // 413
    push(await raw(sb, WHOAMI, { method: 'HEAD', headers: { 'user-agent': UA, cookie } })); // HEAD 200
    push(await raw(sb, '/')); // index page
    push(await raw(sb, '/_sandbox/status')); // admin
    push(await raw(sb, '/_sandbox/nothing')); // admin 404
    expect(responses.map((r) => r.status)).toEqual([
      503, 302, 200, 200, 400, 400, 401, 404, 405, 413, 200, 200, 200, 404,
    ]);
    const ids = responses.map((r) => r.id);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
    const journalIds = sb.journal.entries({ sinceSeq: since }).map((e) => e.requestId);
    for (const id of ids) expect(journalIds).toContain(id);
  });
});

describe('seller catalog (NC41)', () => {
  it('NC41 GET /catalog/v1/items is deterministic per project, and each seller session sees only its own project', async () => {
    expect(sellerA.project_code).toBe('PRJ20001');
    expect(sellerB.project_code).toBe('PRJ20003');
    const a1 = await gw(sb, CATALOG, { cookie: await login(sb, sellerA) });
    const a2 = await gw(sb, CATALOG, { cookie: await login(sb, sellerA) });
    const b1 = await gw(sb, CATALOG, { cookie: await login(sb, sellerB) });
    expect(a1.status).toBe(200);
    expect(b1.status).toBe(200);
    expect(a1.json.project_code).toBe('PRJ20001');
    expect(b1.json.project_code).toBe('PRJ20003');
    // Same project, another session: the very same list.
    expect(a2.json).toEqual(a1.json);
    expect(a1.json.items.length).toBeGreaterThan(0);
    for (const item of a1.json.items) {
      expect(item.sku.startsWith('PRJ20001-')).toBe(true);
      expect(item).toEqual({
        sku: expect.any(String),
        title: expect.any(String),
        price: expect.stringMatching(/^\d+\.\d{2}$/),
        currency: 'AED',
      });
    }
    const skusA = new Set(a1.json.items.map((i: { sku: string }) => i.sku));
    for (const item of b1.json.items) {
      expect(item.sku.startsWith('PRJ20003-')).toBe(true);
      expect(skusA.has(item.sku)).toBe(false);
    }
    expect(a1.text).not.toContain('PRJ20003');
    expect(b1.text).not.toContain('PRJ20001');
  });

  it("NC41 seller A's session never reaches seller B's items: no query, header or second login lets it", async () => {
    const a = await login(sb, sellerA);
    for (const path of [`${CATALOG}?project_code=PRJ20003`, `${CATALOG}?project=PRJ20003&seller=PRJ20003`]) {
      const res = await gw(sb, path, { cookie: a, headers: { 'x-project-code': 'PRJ20003' } });
      expect(res.status).toBe(200);
      expect(res.json.project_code).toBe('PRJ20001');
      expect(res.text).not.toContain('PRJ20003');
    }
    // The seller credential may not log in to another seller's project.
    const token = await loginJwt(sellerA, { nowS: Math.floor(sb.clock.now() / 1000) });
    const res = await gw(sb, LOGIN, { body: { token, default_project_code: 'PRJ20003' } });
    expectErrorShape(res, 403, 'PROJECT_NOT_ALLOWED');
    // The seller session's whoami names the seller project; the integrator sees its own catalog.
    expect((await gw(sb, WHOAMI, { cookie: a })).json.project_code).toBe('PRJ20001');
    const own = await gw(sb, CATALOG, { cookie });
    expect(own.json.project_code).toBe(sb.fixtures.integrator.projectCode);
    expect(own.text).not.toContain('PRJ20001');
    expect(
      sb.journal
        .entries({ endpoint: 'catalog.items' })
        .every((e) => e.project !== undefined || e.status !== 200),
    ).toBe(true);
  });

  it('NC41 NC13 the catalog needs a session like any gateway path', async () => {
    expectErrorShape(await gw(sb, CATALOG), 401, 'SESSION_REQUIRED');
  });
});

describe('bad input never crashes the server', () => {
  it('malformed JSON and wrong field types → 400, then a normal request still works', async () => {
    for (const b of ['{"token": "a", ', '{"token": "a"', '{"token":"\\u12"}']) {
      expectErrorShape(await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: b }), 400);
    }
    const wrong = [
      { grant_type: 'authorization_code', code: 5, client_id: 'acme-connect', client_secret: 'x' },
      { grant_type: 'authorization_code', code: 'c', client_id: ['acme-connect'], client_secret: 'x' },
      { grant_type: { a: 1 }, code: 'c', client_id: 'acme-connect', client_secret: 'x' },
      { grant_type: 'authorization_code', code: 'c', client_id: 'acme-connect', client_secret: 7 },
    ];
    // token/create runs its checks in the contract's order (NC27), so a mistyped field may meet a 401 first;
    // what matters here is a clean 4xx in the error shape.
    for (const body of wrong) {
      const res = await gw(sb, '/identity/oauth/v1/token/create', { cookie, body });
      expect([400, 401]).toContain(res.status);
      expectErrorShape(res, res.status);
    }
    const ex = await gw(sb, '/identity/oauth/v1/token/exchange', {
      cookie,
      body: { access_token: { nested: [1, 2] } },
    });
    expectErrorShape(ex, 400, 'INVALID_ARGUMENT');
    for (const body of [
      { token: 1, default_project_code: 'PRJ10001' },
      { token: ['a'], default_project_code: 'PRJ10001' },
      { token: { a: 'b' }, default_project_code: 'PRJ10001' },
      { token: 'a.b.c', default_project_code: { code: 'PRJ10001' } },
      { token: null, default_project_code: null },
    ]) {
      expectErrorShape(await gw(sb, LOGIN, { body }), 400, 'INVALID_ARGUMENT');
    }
    await stillServing();
  });

  it('NC37 bodies over 1 MiB → 413, whether Content-Length declares it or it arrives chunked', async () => {
    const declared = await raw(sb, LOGIN, {
      headers: { 'user-agent': UA },
      body: Buffer.alloc(2 * 1024 * 1024, 0x7b),
    });
    expectErrorShape(declared, 413, 'PAYLOAD_TOO_LARGE');
    async function* chunks() {
      for (let i = 0; i < 24; i++) yield Buffer.alloc(64 * 1024, 0x20);
    }
    const chunked = await fetch(sb.url + LOGIN, {
      method: 'POST',
      headers: { 'user-agent': UA },
      body: chunks() as unknown as BodyInit,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await chunked.json()).details[0].reason).toBe('PAYLOAD_TOO_LARGE');
    // Exactly at the limit is not too large (the JSON is then just malformed).
    const atLimit = await raw(sb, LOGIN, {
      headers: { 'user-agent': UA },
      body: Buffer.alloc(1024 * 1024, 0x20),
    });
    expectErrorShape(atLimit, 400, 'MALFORMED_JSON');
    await stillServing();
  });

  it('invalid UTF-8 and deeply nested JSON → 4xx, never 5xx', async () => {
    const bad = Buffer.concat([
      Buffer.from('{"token":"'),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
      Buffer.from('","default_project_code":"PRJ10001"}'),
    ]);
    const r1 = await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: bad });
    expectErrorShape(r1, 401, 'INVALID_TOKEN');
    const r2 = await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: Buffer.from([0xff, 0xfe, 0xfd]) });
    expectErrorShape(r2, 400, 'MALFORMED_JSON');
    const deep = `${'['.repeat(400_000)}${']'.repeat(400_000)}`;
    expectErrorShape(await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: deep }), 400);
    const deepObj = `${'{"a":'.repeat(150_000)}1${'}'.repeat(150_000)}`;
    expectErrorShape(await raw(sb, LOGIN, { headers: { 'user-agent': UA }, body: deepObj }), 400);
    await stillServing();
  });

  it('unknown paths → 404, wrong methods → 405, HEAD answers headers only; the path is never read as a host', async () => {
    for (const p of [
      '/identity/v2/whoami',
      '/identity/v1/whoami/extra',
      `/${'a'.repeat(4000)}`,
      '/%00',
      '/..%2f_sandbox',
    ]) {
      expectErrorShape(await gw(sb, p, { cookie }), 404, 'NOT_FOUND');
    }
    // A request target starting with // must stay a path, not become a host plus an admin path.
    const sneaky = await raw(sb, '//x/_sandbox/faults', { headers: { 'user-agent': UA } });
    expectErrorShape(sneaky, 404, 'NOT_FOUND');
    for (const [m, p] of [
      ['GET', LOGIN],
      ['DELETE', WHOAMI],
      ['PATCH', CATALOG],
      ['GET', '/identity/oauth/v1/token/create'],
      ['OPTIONS', LOGIN],
    ] as const) {
      expectErrorShape(
        await raw(sb, p, { method: m, headers: { 'user-agent': UA, cookie } }),
        405,
        'METHOD_NOT_ALLOWED',
      );
    }
    const head = await raw(sb, CATALOG, { method: 'HEAD', headers: { 'user-agent': UA, cookie } });
    const get = await raw(sb, CATALOG, { headers: { 'user-agent': UA, cookie } });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    const headNoSession = await raw(sb, WHOAMI, { method: 'HEAD', headers: { 'user-agent': UA } });
    expect(headNoSession.status).toBe(401);
    expect(headNoSession.body.length).toBe(0);
    expect(head.headers['x-request-id']).toMatch(UUID);
    await stillServing();
  });

  it('garbage cookies and a client that disconnects mid-body leave the server serving', async () => {
    for (const c of [
      '=',
      ';;;',
      '_npsid',
      '_npsid=; _npsid=x',
      `_npsid=${'z'.repeat(6000)}`,
      'a=b; =c; _npsid==',
    ]) {
      expectErrorShape(
        await raw(sb, WHOAMI, { headers: { 'user-agent': UA, cookie: c } }),
        401,
        'SESSION_REQUIRED',
      );
    }
    const since = sb.journal.lastSeq;
    const url = new URL(sb.url);
    await new Promise<void>((resolve) => {
      const s = connect(Number(url.port), url.hostname, () => {
        s.write(
          `POST ${LOGIN} HTTP/1.1\r\nHost: x\r\nUser-Agent: ${UA}\r\nContent-Length: 1000\r\n\r\n{"token":"abc`,
        );
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 50);
      });
    });
    // The journal records the abandoned request once the server notices the connection closed.
    await waitFor(
      'the abandoned login in the journal',
      () => sb.journal.entries({ sinceSeq: since, endpoint: 'login' }).length > 0,
    );
    const entries = sb.journal.entries({ sinceSeq: since, endpoint: 'login' });
    expect(entries.length).toBe(1);
    expect(entries[0]!.status).toBe(0);
    await stillServing();
  });

  it('NC37 NC39 requests node:http cannot parse (oversized headers, a broken request line) still get the error shape and an X-Request-Id', async () => {
    const url = new URL(sb.url);
    const send = (text: string) =>
      new Promise<string>((resolve) => {
        let out = '';
        const s = connect(Number(url.port), url.hostname, () => s.write(text));
        s.on('data', (c) => {
          out += c.toString('latin1');
        });
        s.on('close', () => resolve(out));
        s.on('error', () => resolve(out));
      });
    const cases: [string, number, string][] = [
      [
        `GET ${WHOAMI} HTTP/1.1\r\nHost: x\r\nUser-Agent: ${UA}\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
        'HEADERS_TOO_LARGE',
      ],
      ['NOT A REQUEST LINE\r\n\r\n', 400, 'BAD_REQUEST'],
      [`GET ${WHOAMI} HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n`, 400, 'BAD_REQUEST'],
    ];
    const ids = new Set<string>();
    for (const [text, status, reason] of cases) {
      const answer = await send(text);
      const [head, body] = answer.split('\r\n\r\n') as [string, string];
      expect(head.startsWith(`HTTP/1.1 ${status} `), head).toBe(true);
      const id = /\r\nx-request-id: ([^\r]+)/i.exec(head)?.[1];
      expect(id).toMatch(UUID);
      ids.add(id!);
      expectErrorShape({ status, json: JSON.parse(body), text: body }, status, reason);
    }
    expect(ids.size).toBe(cases.length);
    await stillServing();
  });

  it('none of the bad input above made the sandbox report an unexpected error', () => {
    expect(unexpected).toEqual([]);
  });

  it('NC39 the journal of this whole file holds no secret: codes, access tokens, PEM text, cookies, login JWTs, client secret', () => {
    expect(secrets.size).toBeGreaterThan(10);
    expectNoSecrets(JSON.stringify(sb.journal.entries()), secrets);
  });
});
