// The service's REST API over real HTTP, against a sandbox behind a recording proxy: authentication, every route's
// success and error answers, tenant restriction, the seller proxy, the OpenAPI description (every answer checked
// against its documented schema) and a search of every answer for every secret that crossed the wire.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { catalogFor } from '../../src/sandbox/endpoints/catalog.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { connectThrough } from '../helpers/seller-flow.js';
import { recordingProxy } from '../helpers/service-ops.js';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

interface Seen {
  method: string;
  path: string;
  status: number;
  json: unknown;
}

describe('service REST API', () => {
  let sb: Sandbox;
  let stack: ServiceStack;
  let recorder: { url: string; close(): Promise<void> };
  const secrets = new SecretSearch();
  /** Every answer the API gave in this file, for the schema and secret checks at the end. */
  const seen: Seen[] = [];
  const texts: { where: string; text: string; headers: Headers }[] = [];
  /** Connection ids by name. */
  const ids: Record<string, string> = {};

  async function api(
    method: string,
    path: string,
    o: {
      body?: unknown;
      raw?: string;
      token?: string | null;
      headers?: Record<string, string>;
      tenant?: string;
    } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...o.headers };
    const token = o.token === undefined ? stack.apiToken : o.token;
    if (token !== null && token !== undefined) headers.authorization = `Bearer ${token}`;
    if (o.tenant !== undefined) headers['x-noon-connect-tenant'] = o.tenant;
    let body: string | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(stack.url + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    secrets.captureResponse(`${method} ${path}`, res.status, res.headers, text);
    texts.push({ where: `${method} ${path} → ${res.status}`, text, headers: res.headers });
    seen.push({ method, path: new URL(path, 'http://x').pathname, status: res.status, json });
    return { status: res.status, headers: res.headers, text, json };
  }

  /** Connects a seller for a tenant through a link the API made; returns the new connection's id. */
  async function connect(tenant: string, projectCode: string): Promise<string> {
    const link = await api('POST', '/api/connect-links', { body: { tenant } });
    expect(link.status).toBe(201);
    const run = await connectThrough(stack, { startUrl: link.json.url, projectCode });
    secrets.add('code', run.code);
    secrets.add('state', run.state);
    expect(run.callback.status).toBe(303);
    const list = await api('GET', `/api/connections?tenant=${tenant}`);
    const c = list.json.connections.find((x: { seller_project: string }) => x.seller_project === projectCode);
    expect(c?.status).toBe('active');
    return c.id;
  }

  /** Journal entries since a sequence number: what reached the sandbox in between. */
  const upstreamSince = (seq: number) => sb.journal.entries({ sinceSeq: seq });

  beforeAll(async () => {
    sb = await startSandbox();
    recorder = await recordingProxy(sb.url, secrets);
    stack = await startServiceStack({
      sandbox: sb,
      env: { NOON_LOCAL_URL: recorder.url, NOON_CONNECT_RETURN_PATHS: '/app,/settings' },
    });
    secrets.add('client secret', stack.clientSecret);
    secrets.addPem(sb.fixtures.integrator.key!.private_key);
    secrets.watch('service log', stack.logs);
    ids.a = await connect('tenant-a', 'PRJ20001');
    ids.b = await connect('tenant-b', 'PRJ20003');
  });

  afterAll(async () => {
    await stack?.close();
    await recorder?.close();
    await sb?.close();
  });

  describe('authentication', () => {
    const routes: [string, () => string][] = [
      ['GET', () => '/api/connections'],
      ['GET', () => `/api/connections/${ids.a}`],
      ['POST', () => '/api/connect-links'],
      ['POST', () => `/api/connections/${ids.a}/rotate`],
      ['POST', () => `/api/connections/${ids.a}/disconnect`],
      ['POST', () => `/api/connections/${ids.a}/health-check`],
      ['POST', () => `/api/connections/${ids.a}/proxy`],
      ['GET', () => '/api/nothing-here'],
    ];

    it('every route answers 401 with WWW-Authenticate: Bearer without a token, and nothing reaches Noon', async () => {
      const seq = sb.journal.lastSeq;
      for (const [method, path] of routes) {
        const r = await api(method, path(), {
          token: null,
          body:
            method === 'POST' ? { tenant: 'tenant-a', method: 'GET', path: '/catalog/v1/items' } : undefined,
        });
        expect(r.status, `${method} ${path()}`).toBe(401);
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="noon-connect"/);
        expect(r.json.error.code).toBe('UNAUTHORIZED');
        expect(r.text).not.toContain('PRJ2000');
      }
      expect(upstreamSince(seq)).toEqual([]);
      // The connection is untouched: still active with its key.
      expect((await api('GET', `/api/connections/${ids.a}`)).json.status).toBe('active');
    });

    it('a wrong token, a token of another length, another scheme or a malformed header → 401', async () => {
      const right = stack.apiToken!;
      const wrongSameLength = right.slice(0, -1) + (right.endsWith('A') ? 'B' : 'A');
      for (const headers of [
        { authorization: `Bearer ${wrongSameLength}` },
        { authorization: `Bearer ${right}x` },
        { authorization: `Bearer ${right.slice(0, 10)}` },
        { authorization: `Basic ${Buffer.from(`api:${right}`).toString('base64')}` },
        { authorization: `Token ${right}` },
        { authorization: 'Bearer' },
        { authorization: `Bearer ${right} extra` },
      ]) {
        const r = await api('GET', '/api/connections', { token: null, headers });
        expect(r.status, headers.authorization.slice(0, 12)).toBe(401);
        expect(r.json.error.code).toBe('UNAUTHORIZED');
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(r.json.connections).toBeUndefined();
      }
      const wrong = await api('GET', '/api/connections', { token: wrongSameLength });
      expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
      // The right token, with the scheme in any case, is accepted.
      const ok = await api('GET', '/api/connections', {
        token: null,
        headers: { authorization: `bearer ${right}` },
      });
      expect(ok.status).toBe(200);
    });

    it('every answer carries Cache-Control: no-store and a JSON content type', async () => {
      for (const [method, path] of routes) {
        const r = await api(method, path(), { token: null });
        expect(r.headers.get('cache-control')).toBe('no-store');
        expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      }
      const ok = await api('GET', '/api/connections');
      expect(ok.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('GET /api/connections', () => {
    it('K7 lists metadata only: the documented fields, key ids matching the sandbox ledger, no key material', async () => {
      const r = await api('GET', '/api/connections');
      expect(r.status).toBe(200);
      const a = r.json.connections.find((c: { id: string }) => c.id === ids.a);
      const b = r.json.connections.find((c: { id: string }) => c.id === ids.b);
      expect(a).toMatchObject({ tenant: 'tenant-a', seller_project: 'PRJ20001', status: 'active' });
      expect(b).toMatchObject({ tenant: 'tenant-b', seller_project: 'PRJ20003', status: 'active' });
      expect(Object.keys(a).sort()).toEqual(
        [
          'channel_identifier',
          'connected_at',
          'created_at',
          'id',
          'key_id',
          'last_health',
          'oauth_request_id',
          'seller_project',
          'status',
          'tenant',
          'updated_at',
        ].sort(),
      );
      const ledger = sb.ledger.entries().find((e) => e.keyId === a.key_id);
      expect(ledger?.sellerProject).toBe('PRJ20001');
      expect(a.channel_identifier).toBe(ledger?.channelIdentifier);
      expect(a.oauth_request_id).toBe(ledger?.oauthRequestId);
      expect(Date.parse(a.connected_at)).toBeGreaterThan(0);
      expect(r.text).not.toMatch(/PRIVATE KEY|private_key|access_token|sealed|credential_id/i);
    });

    it('filters by tenant and by status; an unknown status, an unknown or repeated parameter → 400', async () => {
      const a = await api('GET', '/api/connections?tenant=tenant-a');
      expect(a.json.connections.map((c: { id: string }) => c.id)).toEqual([ids.a]);
      const none = await api('GET', '/api/connections?tenant=tenant-a&status=disconnected');
      expect(none.json.connections).toEqual([]);
      const nobody = await api('GET', '/api/connections?tenant=nobody');
      expect(nobody.status).toBe(200);
      expect(nobody.json.connections).toEqual([]);
      for (const q of [
        'status=gone',
        'tenat=tenant-a',
        'tenant=tenant-a&tenant=tenant-b',
        'tenant=',
        'tenant=a%20b',
        `tenant=${'t'.repeat(129)}`,
      ]) {
        const r = await api('GET', `/api/connections?${q}`);
        expect(r.status, q).toBe(400);
        expect(r.json.error.code).toBe('INVALID_REQUEST');
        expect(r.json.error.message.length).toBeGreaterThan(10);
      }
    });
  });

  describe('GET /api/connections/{id}', () => {
    it('K7 one connection, metadata only; scoped by ?tenant=', async () => {
      const r = await api('GET', `/api/connections/${ids.a}`);
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ id: ids.a, tenant: 'tenant-a', seller_project: 'PRJ20001' });
      expect((await api('GET', `/api/connections/${ids.a}?tenant=tenant-a`)).status).toBe(200);
      const other = await api('GET', `/api/connections/${ids.a}?tenant=tenant-b`);
      expect(other.status).toBe(404);
      expect(other.json.error.code).toBe('CONNECTION_NOT_FOUND');
    });

    it('an unknown id → 404 CONNECTION_NOT_FOUND; a malformed id → 400; an unknown route → 404; a wrong method → 405 with Allow', async () => {
      const unknown = await api('GET', '/api/connections/00000000-0000-4000-8000-000000000000');
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.code).toBe('CONNECTION_NOT_FOUND');
      const malformed = await api('GET', '/api/connections/not_an*id');
      expect(malformed.status).toBe(400);
      expect(malformed.json.error.code).toBe('INVALID_REQUEST');
      for (const path of [
        '/api',
        '/api/',
        '/api/connection',
        `/api/connections/${ids.a}/explode`,
        '/api/connections/',
      ]) {
        const r = await api('GET', path);
        expect(r.status, path).toBe(404);
        expect(r.json.error.code).toBe('NOT_FOUND');
      }
      for (const [method, path, allow] of [
        ['DELETE', `/api/connections/${ids.a}`, 'GET'],
        ['POST', '/api/connections', 'GET'],
        ['GET', '/api/connect-links', 'POST'],
        ['GET', `/api/connections/${ids.a}/rotate`, 'POST'],
        ['PUT', `/api/connections/${ids.a}/proxy`, 'POST'],
        ['POST', '/api/openapi.json', 'GET'],
      ] as const) {
        const r = await api(method, path);
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.headers.get('allow')).toBe(allow);
        expect(r.json.error.code).toBe('METHOD_NOT_ALLOWED');
      }
      // Paths outside /api are not the API's.
      const page = await fetch(`${stack.url}/apis`);
      expect(page.status).not.toBe(405);
    });
  });

  describe('POST /api/connect-links', () => {
    it('makes a signed, expiring link that carries the tenant, the return path and the connection to reconnect', async () => {
      const before = sb.clock.now();
      const r = await api('POST', '/api/connect-links', {
        body: { tenant: 'tenant-a', return_to: '/app/welcome?x=1', connection_id: ids.a },
      });
      expect(r.status).toBe(201);
      const url = new URL(r.json.url);
      expect(`${url.origin}${url.pathname}`).toBe(`${stack.url}/connect/start`);
      const expires = Date.parse(r.json.expires_at);
      expect(expires).toBeGreaterThan(before);
      expect(stack.service.context.links.verify(url.searchParams.get('t'))).toEqual({
        tenant: 'tenant-a',
        returnTo: '/app/welcome?x=1',
        connectionId: ids.a,
      });
      // The link starts the flow.
      const start = await fetch(r.json.url, { redirect: 'manual' });
      expect(start.status).toBe(303);
      // And it expires.
      sb.clock.advance(expires - sb.clock.now() + 1000);
      const late = await fetch(r.json.url, { redirect: 'manual' });
      expect(late.status).toBe(400);
    });

    it('C7 return paths that leave the site or the allow-list → 400 RETURN_PATH_REFUSED, no link', async () => {
      for (const returnTo of [
        '//evil.com',
        'https://evil.com',
        '/\\evil.com',
        'javascript:alert(1)',
        '%2F%2Fevil.com',
        '/%09/evil.com',
        '/%2F/evil.com',
        '/other',
        '',
        'app',
      ]) {
        const r = await api('POST', '/api/connect-links', {
          body: { tenant: 'tenant-a', return_to: returnTo },
        });
        expect(r.status, returnTo).toBe(400);
        expect(r.json.error.code).toBe('RETURN_PATH_REFUSED');
        expect(r.json.url).toBeUndefined();
        expect(r.json.error.message).toMatch(/return path refused/);
      }
      expect(
        (await api('POST', '/api/connect-links', { body: { tenant: 'tenant-a', return_to: '/settings' } }))
          .status,
      ).toBe(201);
    });

    it('bad input → 400 with a clear message; a body that is not JSON → 415; a reconnect of another tenant’s connection → 404', async () => {
      const cases: [unknown, string][] = [
        [{}, 'tenant is required'],
        [{ tenant: '' }, 'tenant must be'],
        [{ tenant: 'a b' }, 'tenant must be'],
        [{ tenant: 7 }, 'tenant must be'],
        [{ tenant: 'tenant-a', return_to: 5 }, 'return_to must be a string'],
        [{ tenant: 'tenant-a', connection_id: 5 }, 'connection_id must be a string'],
        [{ tenant: 'tenant-a', connection_id: 'x/y' }, 'connection id must be'],
        [{ tenant: 'tenant-a', returnTo: '/app' }, 'unknown field "returnTo"'],
        [[], 'must be a JSON object'],
        ['tenant-a', 'must be a JSON object'],
      ];
      for (const [body, message] of cases) {
        const r = await api('POST', '/api/connect-links', { body });
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.json.error.code).toBe('INVALID_REQUEST');
        expect(r.json.error.message).toContain(message);
      }
      const empty = await api('POST', '/api/connect-links', {
        raw: '',
        headers: { 'content-type': 'application/json' },
      });
      expect(empty.status).toBe(400);
      const broken = await api('POST', '/api/connect-links', {
        raw: '{"tenant":',
        headers: { 'content-type': 'application/json' },
      });
      expect(broken.status).toBe(400);
      expect(broken.json.error.message).toContain('not valid JSON');
      const form = await api('POST', '/api/connect-links', {
        raw: 'tenant=tenant-a',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(form.status).toBe(415);
      expect(form.json.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      const other = await api('POST', '/api/connect-links', {
        body: { tenant: 'tenant-b', connection_id: ids.a },
      });
      expect(other.status).toBe(404);
      expect(other.json.error.code).toBe('CONNECTION_NOT_FOUND');
    });

    it('a body over 64 KiB → 413', async () => {
      const r = await api('POST', '/api/connect-links', {
        body: { tenant: 'tenant-a', pad: 'x'.repeat(70_000) },
      });
      expect(r.status).toBe(413);
      expect(r.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    });
  });

  describe('tenant restriction (X-Noon-Connect-Tenant)', () => {
    it('restricts listings to the header’s tenant; naming another tenant → 403; an empty or malformed header → 400', async () => {
      const r = await api('GET', '/api/connections', { tenant: 'tenant-b' });
      expect(r.json.connections.map((c: { id: string }) => c.id)).toEqual([ids.b]);
      expect((await api('GET', '/api/connections?tenant=tenant-b', { tenant: 'tenant-b' })).status).toBe(200);
      const cross = await api('GET', '/api/connections?tenant=tenant-a', { tenant: 'tenant-b' });
      expect(cross.status).toBe(403);
      expect(cross.json.error.code).toBe('TENANT_MISMATCH');
      expect(cross.text).not.toContain(ids.a);
      for (const h of ['', 'a b', 'tenant-a, tenant-b']) {
        const bad = await api('GET', '/api/connections', { headers: { 'x-noon-connect-tenant': h } });
        expect(bad.status, JSON.stringify(h)).toBe(400);
        expect(bad.json.connections).toBeUndefined();
      }
    });

    it('another tenant’s connection answers 404 on every route and nothing reaches Noon', async () => {
      const seq = sb.journal.lastSeq;
      const ledger = sb.ledger.count();
      const get = await api('GET', `/api/connections/${ids.a}`, { tenant: 'tenant-b' });
      expect(get.status).toBe(404);
      for (const action of ['rotate', 'disconnect', 'health-check']) {
        const r = await api('POST', `/api/connections/${ids.a}/${action}`, { tenant: 'tenant-b' });
        expect(r.status, action).toBe(404);
        expect(r.json.error.code).toBe('CONNECTION_NOT_FOUND');
      }
      const proxy = await api('POST', `/api/connections/${ids.a}/proxy`, {
        tenant: 'tenant-b',
        body: { method: 'GET', path: '/catalog/v1/items' },
      });
      expect(proxy.status).toBe(404);
      expect(proxy.text).not.toContain('PRJ20001');
      const relink = await api('POST', '/api/connect-links', {
        tenant: 'tenant-b',
        body: { tenant: 'tenant-b', connection_id: ids.a },
      });
      expect(relink.status).toBe(404);
      expect(upstreamSince(seq)).toEqual([]);
      expect(sb.ledger.count()).toBe(ledger);
      expect((await api('GET', `/api/connections/${ids.a}`)).json.status).toBe('active');
    });

    it('connect links: the header’s tenant is used when the body names none; another tenant in the body → 403', async () => {
      const own = await api('POST', '/api/connect-links', { tenant: 'tenant-b', body: {} });
      expect(own.status).toBe(201);
      expect(stack.service.context.links.verify(new URL(own.json.url).searchParams.get('t'))?.tenant).toBe(
        'tenant-b',
      );
      const cross = await api('POST', '/api/connect-links', {
        tenant: 'tenant-b',
        body: { tenant: 'tenant-a' },
      });
      expect(cross.status).toBe(403);
      expect(cross.json.error.code).toBe('TENANT_MISMATCH');
      expect(cross.json.url).toBeUndefined();
    });
  });

  describe('POST /api/connections/{id}/proxy', () => {
    it('NC41 reaches the seller API as seller A and returns only A’s items; as seller B, only B’s', async () => {
      for (const [id, project] of [
        [ids.a!, 'PRJ20001'],
        [ids.b!, 'PRJ20003'],
      ] as const) {
        const seq = sb.journal.lastSeq;
        const r = await api('POST', `/api/connections/${id}/proxy`, {
          body: { method: 'GET', path: '/catalog/v1/items', query: { page: 1, tags: ['a', 'b'] } },
        });
        expect(r.status).toBe(200);
        expect(r.json.status).toBe(200);
        expect(r.json.body.project_code).toBe(project);
        expect(r.json.body.items).toEqual(catalogFor(project));
        expect(r.json.headers['content-type']).toBe('application/json');
        const calls = upstreamSince(seq).filter((e) => e.endpoint === 'catalog.items');
        expect(calls).toHaveLength(1);
        expect(calls[0]!.project).toBe(project);
        expect(r.json.headers['x-request-id']).toBe(calls[0]!.requestId);
      }
    });

    it('the same call scoped to the connection’s own tenant works (?tenant= and the header)', async () => {
      const q = await api('POST', `/api/connections/${ids.a}/proxy?tenant=tenant-a`, {
        body: { method: 'GET', path: '/catalog/v1/items' },
      });
      expect(q.json.body.project_code).toBe('PRJ20001');
      const h = await api('POST', `/api/connections/${ids.b}/proxy`, {
        tenant: 'tenant-b',
        body: { method: 'GET', path: '/catalog/v1/items' },
      });
      expect(h.json.body.project_code).toBe('PRJ20003');
    });

    it('every call is audited (the connection’s tenant, method and path as the detail) and logged, reading the connection once', async () => {
      const store = stack.service.context.store;
      const reads = vi.spyOn(store, 'getConnection');
      const missingId = '00000000-0000-4000-8000-000000000000';
      const body = { method: 'GET', path: '/catalog/v1/items' };
      try {
        const ok = await api('POST', `/api/connections/${ids.a}/proxy`, { body });
        expect(ok.status).toBe(200);
        // The service's own read; the connector finds the seller's session by tenant and project.
        expect(reads.mock.calls).toEqual([[ids.a]]);
        reads.mockClear();
        const missing = await api('POST', `/api/connections/${missingId}/proxy`, { body });
        expect(missing.status).toBe(404);
        expect(reads.mock.calls).toEqual([[missingId]]);
      } finally {
        reads.mockRestore();
      }
      const last = async (id: string) =>
        (await api('GET', `/api/audit?connection_id=${id}&limit=1`)).json.entries[0];
      expect(await last(ids.a!)).toMatchObject({
        actor: 'api-token',
        action: 'proxy',
        tenant: 'tenant-a',
        connection_id: ids.a,
        outcome: '200',
        detail: 'GET /catalog/v1/items',
      });
      expect(await last(missingId)).toMatchObject({
        action: 'proxy',
        tenant: null,
        connection_id: missingId,
        outcome: '404',
        detail: 'GET /catalog/v1/items',
      });
      const line = stack.logs
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .findLast((l) => l.msg === 'proxied seller call');
      expect(line).toMatchObject({
        level: 30,
        api: 'proxy',
        connectionId: ids.a,
        tenant: 'tenant-a',
        method: 'GET',
        path: '/catalog/v1/items',
        status: 200,
      });
      expect(typeof line?.requestId).toBe('string');
    });

    it('refuses identity paths (login, whoami, OAuth tokens, key management), the emulator admin and paths that are not a single-slash path; nothing reaches Noon', async () => {
      const seq = sb.journal.lastSeq;
      const refused = [
        '/identity/public/v1/api/login',
        '/identity/v1/whoami',
        '/identity/oauth/v1/token/create',
        '/identity/v1/api_users/credentials/create',
        '/identity/v1/api_users/credentials/list',
        '/IDENTITY/v1/whoami',
        '/identity',
        '/identity;x=1/v1/whoami',
        '/%69dentity/v1/whoami',
        '/_sandbox/faults',
      ];
      for (const path of refused) {
        const r = await api('POST', `/api/connections/${ids.a}/proxy`, { body: { method: 'POST', path } });
        expect(r.status, path).toBe(400);
        expect(r.json.error.code, path).toBe('PATH_REFUSED');
      }
      const invalid = [
        '//evil.example/catalog',
        'catalog/v1/items',
        'https://evil.example/catalog',
        '/catalog/v1/items?x=1',
        '/catalog/v1/items#x',
        '/catalog/../identity/v1/whoami',
        '/catalog/./items',
        '/catalog/%2e%2e/identity/v1/whoami',
        '/catalog%2F..%2Fidentity',
        '/catalog\\..\\identity',
        '/catalog/v1 items',
        '/catalog/%zz',
        // Path parameters and look-alike dots that some servers fold into `..`.
        '/.;/identity/v1/whoami',
        '/;/identity/v1/whoami',
        '/catalog/..;/identity/v1/api_users/credentials/list',
        '/catalog/\uff0e\uff0e/identity',
        '/catalog/a%00b',
        '',
      ];
      for (const path of invalid) {
        const r = await api('POST', `/api/connections/${ids.a}/proxy`, { body: { method: 'GET', path } });
        expect(r.status, path).toBe(400);
        expect(r.json.error.code, path).toBe('INVALID_REQUEST');
      }
      expect(upstreamSince(seq)).toEqual([]);
    });

    it('bad proxy input → 400 with a clear message, nothing sent', async () => {
      const seq = sb.journal.lastSeq;
      const cases: [unknown, string][] = [
        [{ path: '/catalog/v1/items' }, 'method must be one of'],
        [{ method: 'get', path: '/catalog/v1/items' }, 'method must be one of'],
        [{ method: 'TRACE', path: '/catalog/v1/items' }, 'method must be one of'],
        [{ method: 'GET' }, 'path must be'],
        [{ method: 'GET', path: 5 }, 'path must be'],
        [{ method: 'GET', path: '/catalog/v1/items', body: {} }, 'GET request has no body'],
        [{ method: 'GET', path: '/catalog/v1/items', query: 'a=1' }, 'query must be an object'],
        [{ method: 'GET', path: '/catalog/v1/items', query: { a: { b: 1 } } }, 'query.a must be'],
        [{ method: 'GET', path: '/catalog/v1/items', headers: { cookie: 'x' } }, 'unknown field "headers"'],
      ];
      for (const [body, message] of cases) {
        const r = await api('POST', `/api/connections/${ids.a}/proxy`, { body });
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.json.error.message).toContain(message);
      }
      const none = await api('POST', `/api/connections/${ids.a}/proxy`);
      expect(none.status).toBe(400);
      expect(upstreamSince(seq)).toEqual([]);
    });

    it('relays Noon’s error statuses with their code and reason; a lost connection → 502 UNAVAILABLE', async () => {
      const missing = await api('POST', `/api/connections/${ids.a}/proxy`, {
        body: { method: 'GET', path: '/catalog/v1/no-such-thing' },
      });
      expect(missing.status).toBe(200);
      expect(missing.json.status).toBe(404);
      expect(missing.json.body).toBeNull();
      expect(missing.json.error.code).toBe('NOT_FOUND');
      expect(missing.json.headers['x-request-id']).toBeTruthy();

      const fault = sb.addFault({
        endpoint: 'catalog.items',
        action: {
          type: 'status',
          status: 409,
          body: { code: 9, message: 'no', details: [{ reason: 'BUSY' }] },
        },
      });
      const conflict = await api('POST', `/api/connections/${ids.a}/proxy`, {
        body: { method: 'GET', path: '/catalog/v1/items' },
      });
      sb.faults.remove(fault);
      expect(conflict.json).toMatchObject({
        status: 409,
        body: null,
        error: { code: 'CONFLICT', reason: 'BUSY' },
      });

      const reset = sb.addFault({ endpoint: 'catalog.items', action: { type: 'reset' }, always: true });
      const lost = await api('POST', `/api/connections/${ids.a}/proxy`, {
        body: { method: 'GET', path: '/catalog/v1/items' },
      });
      sb.faults.remove(reset);
      expect(lost.status).toBe(502);
      expect(lost.json.error.code).toBe('UNAVAILABLE');
      const again = await api('POST', `/api/connections/${ids.a}/proxy`, {
        body: { method: 'GET', path: '/catalog/v1/items' },
      });
      expect(again.json.body.project_code).toBe('PRJ20001');
    });
  });

  describe('connection operations', () => {
    it('health-check: logs in as the seller, asks whoami, records the result on the connection', async () => {
      const r = await api('POST', `/api/connections/${ids.b}/health-check`);
      expect(r.status).toBe(200);
      expect(r.json.ok).toBe(true);
      expect(r.json.whoami.project_code).toBe('PRJ20003');
      expect(r.json.whoami.key_id).toBe(r.json.connection.key_id);
      expect(r.json.connection.last_health).toMatchObject({ ok: true, detail: 'login and whoami succeeded' });
      const get = await api('GET', `/api/connections/${ids.b}`);
      expect(get.json.last_health.checked_at).toBe(r.json.checked_at);
      const body = await api('POST', `/api/connections/${ids.b}/health-check`, { body: { deep: true } });
      expect(body.status).toBe(400);
      expect(body.json.error.message).toContain('unknown field "deep"');
      expect((await api('POST', `/api/connections/${ids.b}/health-check`, { body: {} })).status).toBe(200);
    });

    it('rotate: a new key, make-before-break; the old key is removed upstream and the proxy keeps working', async () => {
      const before = (await api('GET', `/api/connections/${ids.a}`)).json;
      const r = await api('POST', `/api/connections/${ids.a}/rotate`);
      expect(r.status).toBe(200);
      expect(r.json.status).toBe('active');
      expect(r.json.key_id).not.toBe(before.key_id);
      const fresh = sb.ledger.entries().find((e) => e.keyId === r.json.key_id);
      expect(fresh?.via).toBe('api_users.create');
      expect(sb.world.keys.get(before.key_id)?.active).toBe(false);
      const items = await api('POST', `/api/connections/${ids.a}/proxy`, {
        body: { method: 'GET', path: '/catalog/v1/items' },
      });
      expect(items.json.body.project_code).toBe('PRJ20001');
    });

    it('rotate when Noon fails → 502 UNAVAILABLE and the connection keeps its key', async () => {
      const before = (await api('GET', `/api/connections/${ids.a}`)).json;
      const fault = sb.addFault({
        endpoint: 'api_users.create',
        action: { type: 'status', status: 500 },
        always: true,
      });
      const r = await api('POST', `/api/connections/${ids.a}/rotate`);
      sb.faults.remove(fault);
      expect(r.status).toBe(502);
      expect(r.json.error.code).toBe('UNAVAILABLE');
      const after = (await api('GET', `/api/connections/${ids.a}`)).json;
      expect(after.key_id).toBe(before.key_id);
      expect(after.status).toBe('active');
    });

    it('NC33 rotate when the seller’s service account holds 5 keys → 409 KEY_LIMIT; no key created', async () => {
      // Five tenants connecting the same seller share its service account, one key each.
      for (let i = 1; i <= 5; i++) ids[`k${i}`] = await connect(`tenant-k${i}`, 'PRJ20004');
      const created = sb.ledger.count();
      const r = await api('POST', `/api/connections/${ids.k1}/rotate`);
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe('KEY_LIMIT');
      expect(sb.ledger.count()).toBe(created);
      expect((await api('GET', `/api/connections/${ids.k1}`)).json.status).toBe('active');
    });

    it('proxy when Noon refuses the seller’s key at login → 502 SELLER_LOGIN_FAILED', async () => {
      const c = (await api('GET', `/api/connections/${ids.k5}`)).json;
      sb.setSwitches({ deactivateEndsSessions: true });
      try {
        sb.world.deactivateKey(sb.world.keys.get(c.key_id)!, true);
        const r = await api('POST', `/api/connections/${ids.k5}/proxy`, {
          body: { method: 'GET', path: '/catalog/v1/items' },
        });
        expect(r.status).toBe(502);
        expect(r.json.error.code).toBe('SELLER_LOGIN_FAILED');
        const health = await api('POST', `/api/connections/${ids.k5}/health-check`);
        expect(health.json.ok).toBe(false);
      } finally {
        sb.setSwitches({ deactivateEndsSessions: false });
      }
    });

    it('disconnect: keys removed upstream, status disconnected; again → 200 with nothing upstream; then rotate, health-check and proxy → 409', async () => {
      const before = (await api('GET', `/api/connections/${ids.b}`)).json;
      const r = await api('POST', `/api/connections/${ids.b}/disconnect`);
      expect(r.status).toBe(200);
      expect(r.json.status).toBe('disconnected');
      expect(sb.world.keys.get(before.key_id)?.active).toBe(false);
      const seq = sb.journal.lastSeq;
      const again = await api('POST', `/api/connections/${ids.b}/disconnect`);
      expect(again.status).toBe(200);
      expect(again.json.status).toBe('disconnected');
      for (const action of ['rotate', 'health-check']) {
        const x = await api('POST', `/api/connections/${ids.b}/${action}`);
        expect(x.status, action).toBe(409);
        expect(x.json.error.code).toBe('CONNECTION_INACTIVE');
      }
      const proxy = await api('POST', `/api/connections/${ids.b}/proxy`, {
        body: { method: 'GET', path: '/catalog/v1/items' },
      });
      expect(proxy.status).toBe(409);
      expect(proxy.json.error.code).toBe('CONNECTION_INACTIVE');
      expect(upstreamSince(seq)).toEqual([]);
      const listed = await api('GET', '/api/connections?status=disconnected');
      expect(listed.json.connections.map((c: { id: string }) => c.id)).toContain(ids.b);
      const unknown = await api('POST', '/api/connections/00000000-0000-4000-8000-000000000000/disconnect');
      expect(unknown.status).toBe(404);
    });
  });

  describe('GET /api/openapi.json', () => {
    let doc: any;

    it('is served without authentication and parses as an OpenAPI 3.1 document listing every route', async () => {
      const r = await api('GET', '/api/openapi.json', { token: null });
      expect(r.status).toBe(200);
      doc = r.json;
      expect(doc.openapi).toMatch(/^3\.1\./);
      expect(doc.servers[0].url).toBe(stack.url);
      const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, item]) =>
        Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`),
      );
      expect(ops.sort()).toEqual(
        [
          'GET /api/openapi.json',
          'GET /api/connections',
          'GET /api/connections/{id}',
          'POST /api/connect-links',
          'POST /api/connections/{id}/rotate',
          'POST /api/connections/{id}/disconnect',
          'POST /api/connections/{id}/health-check',
          'POST /api/connections/{id}/proxy',
          'GET /api/tokens',
          'POST /api/tokens',
          'POST /api/tokens/{prefix}/revoke',
          'GET /api/audit',
        ].sort(),
      );
      expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
      // Every reference resolves.
      const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
      expect(refs.length).toBeGreaterThan(20);
      for (const ref of refs) expect(resolve(doc, ref.slice(8, -1)), ref).toBeDefined();
    });

    it('every route it lists exists (an authenticated call is neither 404 NOT_FOUND nor 405)', async () => {
      for (const [p, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
        for (const m of Object.keys(item)) {
          const r = await api(m.toUpperCase(), p.replace('{id}', ids.k2!), {
            body: m === 'post' ? {} : undefined,
          });
          expect(r.status, `${m} ${p}`).not.toBe(405);
          expect(r.json?.error?.code, `${m} ${p}`).not.toBe('NOT_FOUND');
        }
      }
    });

    it('every answer this file received matches the schema documented for its route and status', () => {
      let checked = 0;
      for (const s of seen) {
        const op = operationFor(doc, s.method, s.path);
        if (!op) continue;
        const response = resolve(doc, op.responses[String(s.status)]?.$ref) ?? op.responses[String(s.status)];
        const chosen = response ?? resolve(doc, op.responses.default?.$ref);
        expect(chosen, `${s.method} ${s.path} ${s.status} is documented`).toBeDefined();
        const schema = chosen.content?.['application/json']?.schema;
        if (!schema) continue;
        const problems = validate(doc, schema, s.json, '$');
        expect(problems, `${s.method} ${s.path} → ${s.status}`).toEqual([]);
        checked++;
      }
      expect(checked).toBeGreaterThan(100);
    });
  });

  describe('secrets', () => {
    it('K7 no answer holds the client secret, a PEM line, an access token, a session cookie, a code or the API token', () => {
      // The search must have something to find: secrets harvested on the wire between the service and Noon.
      expect(secrets.count('client secret')).toBeGreaterThan(0);
      expect(secrets.count('PEM')).toBeGreaterThan(20);
      expect(secrets.count('access token')).toBeGreaterThan(0);
      expect(secrets.count('session cookie')).toBeGreaterThan(0);
      expect(secrets.count('login JWT')).toBeGreaterThan(0);
      expect(texts.length).toBeGreaterThan(150);
      expect(secrets.findings()).toEqual([]);
      const apiToken = stack.apiToken!;
      const adminToken = stack.adminToken!;
      for (const t of texts) {
        expect(t.text.includes(apiToken), t.where).toBe(false);
        expect(t.text.includes(adminToken), t.where).toBe(false);
        expect(t.headers.getSetCookie(), t.where).toEqual([]);
      }
    });
  });
});

describe('service REST API without a token (dev mode)', () => {
  let sb: Sandbox;
  const stacks: ServiceStack[] = [];
  beforeAll(async () => {
    sb = await startSandbox();
  });
  afterAll(async () => {
    for (const s of stacks) await s.close();
    await sb?.close();
  });

  const devStack = async (host: string) => {
    const s = await startServiceStack({
      sandbox: sb,
      env: {
        NOON_CONNECT_MODE: 'dev',
        NOON_CONNECT_HOST: host,
        NOON_CONNECT_API_TOKEN: undefined,
        NOON_CONNECT_ADMIN_TOKEN: undefined,
      },
      deps: { listen: false, clock: { now: () => sb.clock.now() } },
    });
    stacks.push(s);
    return s;
  };

  it('H1 H7 takes only the secret made at this start as its bearer token, and answers no page of another origin', async () => {
    const s = await devStack('127.0.0.1');
    expect(s.apiToken).toBeUndefined();
    const token = s.service.devToken!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const call = (headers: Record<string, string> = {}) =>
      s.service.fetch(new Request(`${s.url}/api/connections`, { headers }));
    // Without the secret: 401, whatever the Host says (a same-host proxy sends 127.0.0.1).
    for (const headers of [
      {},
      { host: '127.0.0.1:8787' },
      { authorization: 'Bearer not-the-token-of-this-start' },
    ])
      expect((await call(headers)).status, JSON.stringify(headers)).toBe(401);
    const ok = await call({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ connections: [] });
    // A page elsewhere cannot use it, even holding the token: another host name (DNS rebinding), another site,
    // another port of this machine.
    for (const headers of [
      { host: 'rebind.attacker.example:8787' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'https://attacker.example' },
      { origin: 'http://127.0.0.1:1' },
      { origin: 'null' },
    ]) {
      const r = await call({ authorization: `Bearer ${token}`, ...headers });
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(((await r.json()) as any).error.code).toBe('FORBIDDEN');
    }
    // The page of the service's own origin is not refused.
    expect((await call({ authorization: `Bearer ${token}`, origin: s.url })).status).toBe(200);
  });

  it('H1 dev mode without tokens refuses to start when the service would listen beyond loopback', async () => {
    await expect(devStack('0.0.0.0')).rejects.toThrow(
      /dev mode without NOON_CONNECT_ADMIN_TOKEN and NOON_CONNECT_API_TOKEN listens only on loopback/,
    );
  });
});

// --- OpenAPI helpers: resolve references, find an operation, and check a value against a schema --------------

function resolve(doc: any, ref: string | undefined): any {
  if (!ref?.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .reduce((o, k) => (o === undefined ? undefined : o[k.replace(/~1/g, '/').replace(/~0/g, '~')]), doc);
}

function operationFor(doc: any, method: string, path: string): any {
  for (const [template, item] of Object.entries(doc.paths as Record<string, any>)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.')}$`);
    if (re.test(path)) return item[method.toLowerCase()];
  }
  return undefined;
}

/** The subset of JSON Schema 2020-12 the document uses; returns the problems found (none: valid). */
function validate(doc: any, schema: any, v: unknown, at: string): string[] {
  if (schema.$ref) return validate(doc, resolve(doc, schema.$ref), v, at);
  const out: string[] = [];
  if (schema.oneOf) {
    const passing = schema.oneOf.filter((s: any) => validate(doc, s, v, at).length === 0).length;
    if (passing !== 1) out.push(`${at}: matches ${passing} of oneOf`);
    return out;
  }
  const typeOf = (x: unknown) =>
    x === null
      ? 'null'
      : Array.isArray(x)
        ? 'array'
        : typeof x === 'number'
          ? Number.isInteger(x)
            ? 'integer'
            : 'number'
          : typeof x;
  if (schema.type) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(v);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) {
      out.push(`${at}: ${t} is not ${types.join('|')}`);
      return out;
    }
  }
  if (schema.enum && !schema.enum.includes(v)) out.push(`${at}: ${JSON.stringify(v)} not in enum`);
  if (schema.pattern && typeof v === 'string' && !new RegExp(schema.pattern).test(v))
    out.push(`${at}: does not match ${schema.pattern}`);
  if (schema.format === 'date-time' && typeof v === 'string' && Number.isNaN(Date.parse(v)))
    out.push(`${at}: not a date-time`);
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!(k in o)) out.push(`${at}.${k}: required`);
    for (const [k, x] of Object.entries(o)) {
      const sub = schema.properties?.[k];
      if (sub) out.push(...validate(doc, sub, x, `${at}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${at}.${k}: not allowed`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
        out.push(...validate(doc, schema.additionalProperties, x, `${at}.${k}`));
    }
  }
  if (Array.isArray(v) && schema.items)
    for (const [i, x] of v.entries()) out.push(...validate(doc, schema.items, x, `${at}[${i}]`));
  return out;
}
