// H1: dev mode made public by a reverse proxy. A proxy on the same machine that rewrites Host to 127.0.0.1:<port>
// (nginx's default) makes every request look local; without tokens, dev mode now guards the dashboard and the
// REST API (seller proxy included) with a secret made at each start, and refuses to start where anything but
// this machine could reach it.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { connectThrough, freshSeller } from '../helpers/seller-flow.js';
import { childEnv } from '../helpers/service-ops.js';
import { type ReverseProxy, rawAnswer, reverseProxy } from './reverse-proxy.js';

describe('H1 tokenless dev mode behind a same-host reverse proxy', () => {
  let stack: ServiceStack;
  let proxy: ReverseProxy;
  let connectionId = '';
  let project = '';
  const search = new SecretSearch();

  beforeAll(async () => {
    stack = await startServiceStack({
      env: {
        NOON_CONNECT_MODE: 'dev',
        NOON_CONNECT_ADMIN_TOKEN: undefined,
        NOON_CONNECT_API_TOKEN: undefined,
      },
    });
    project = freshSeller(stack.sb).projectCode;
    const run = await connectThrough(stack, {
      startUrl: stack.service.context.links.create({ tenant: 'tenant-h1' }).url,
      projectCode: project,
    });
    expect(run.callback.status).toBe(303);
    connectionId = (await stack.service.context.store.listConnections({ tenant: 'tenant-h1' }))[0]!.id;
    proxy = await reverseProxy(stack.url);
    search.add('client secret', stack.clientSecret);
    // The per-start secret is a session credential: no answer or log line may carry it.
    search.add('session cookie', stack.service.devToken!);
    search.watch('service log', stack.logs);
  });

  afterAll(async () => {
    await proxy?.close();
    await stack?.close();
  });

  it('H1 through the proxy, no dashboard page, API call, seller proxy call or scrape answers without the per-start secret', async () => {
    const json = { 'content-type': 'application/json' };
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const tries: [string, string, Record<string, string>, string | undefined, number[]][] = [
      ['GET', '/api/connections', {}, undefined, [401]],
      ['GET', `/api/connections/${connectionId}`, {}, undefined, [401]],
      ['POST', '/api/connect-links', json, '{"tenant":"tenant-h1"}', [401]],
      [
        'POST',
        `/api/connections/${connectionId}/proxy`,
        json,
        '{"method":"GET","path":"/catalog/v1/items"}',
        [401],
      ],
      ['POST', `/api/connections/${connectionId}/disconnect`, json, '{}', [401]],
      ['GET', '/metrics', {}, undefined, [401]],
      ['GET', '/', {}, undefined, [303]],
      ['GET', '/attempts', {}, undefined, [303]],
      ['GET', `/connections/${connectionId}`, {}, undefined, [303]],
      ['POST', `/connections/${connectionId}/disconnect`, form, 'x=1', [403]],
      ['POST', '/connect-seller', form, 'tenant=evil', [403]],
      ['GET', '/sign-in?token=guessed-token-of-some-length', {}, undefined, [401]],
    ];
    for (const [method, path, headers, body, statuses] of tries) {
      const r = await fetch(`${proxy.origin}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        redirect: 'manual',
      });
      const text = await r.text();
      expect(statuses, `${method} ${path} → ${r.status}`).toContain(r.status);
      if (r.status === 303) expect(r.headers.get('location'), path).toMatch(/^\/sign-in/);
      // Nothing of the connection shows.
      expect(text, path).not.toContain(project);
      expect(text, path).not.toContain(connectionId);
      expect(
        r.headers.getSetCookie().some((c) => /Max-Age=43200/.test(c)),
        path,
      ).toBe(false);
      search.capture(`${method} ${path}`, text);
    }
    expect(proxy.forwarded.length).toBeGreaterThanOrEqual(tries.length);
    expect((await stack.service.context.store.getConnection(connectionId))?.status).toBe('active');
    expect(search.findings()).toEqual([]);
  });

  it('H1 the same proxy serves the developer who holds the link printed at start', async () => {
    const link = new URL(stack.service.signInUrl!);
    const signedIn = await fetch(`${proxy.origin}${link.pathname}${link.search}`, { redirect: 'manual' });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/');
    const cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const home = await fetch(`${proxy.origin}/`, { headers: { cookie }, redirect: 'manual' });
    expect(home.status).toBe(200);
    expect(await home.text()).toContain(project);
    const api = await rawAnswer(proxy.origin, '/api/connections', {
      headers: { authorization: `Bearer ${stack.service.devToken}` },
    });
    expect(api.status).toBe(200);
    expect(api.text).toContain(connectionId);
  });
});

describe('H1 dev mode without tokens starts only where nothing but this machine reaches it', () => {
  const base = {
    NOON_CONNECT_MODE: 'dev',
    NOON_CONNECT_PORT: '0',
    NOON_CLIENT_ID: 'acme-connect',
    NOON_CLIENT_SECRET: 'not-a-real-secret-but-long-enough',
    NOON_KEY_FILE: '/nonexistent/integrator-key.json',
    NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64'),
  };
  const serve = async (env: Record<string, string>) => {
    const run = runCli(['serve'], childEnv({ ...base, ...env }));
    return { code: await run.exit, err: run.stderr(), out: run.stdout() };
  };

  it('H1 NOON_ENV=production with an https public URL and no tokens: exit 3 with the reasons', async () => {
    const r = await serve({ NOON_ENV: 'production', NOON_CONNECT_PUBLIC_URL: 'https://connect.example.com' });
    expect(r.code).toBe(3);
    expect(r.err).toContain('refusing to start');
    expect(r.err).toContain('cannot run against NOON_ENV=production');
    expect(r.err).toContain('needs a loopback NOON_CONNECT_PUBLIC_URL');
    expect(r.out).not.toMatch(/serving on/);
  });

  it('H1 bound to 0.0.0.0: exit 3 with the reason', async () => {
    const r = await serve({
      NOON_ENV: 'local',
      NOON_LOCAL_URL: 'http://127.0.0.1:8788',
      NOON_CONNECT_HOST: '0.0.0.0',
    });
    expect(r.code).toBe(3);
    expect(r.err).toContain(
      'listens only on loopback: NOON_CONNECT_HOST must be 127.0.0.1, ::1 or localhost',
    );
  });
});
