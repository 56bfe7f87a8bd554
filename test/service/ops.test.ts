// The service's operations surface: /healthz, /readyz (503 while draining or with the store down), Prometheus
// /metrics moved by real connects, structured JSON logs that carry no secret, and `noon-connect dev` printing
// its dashboard URL (the start-up time is printed, not asserted: speed belongs to benchmarks).

import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { runCli } from '../helpers/cli.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { freePort } from '../helpers/net.js';
import { startSandbox } from '../helpers/sandbox.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { type Begun, beginConnect } from '../helpers/seller-flow.js';
import { metric, openServiceStore, recordingProxy } from '../helpers/service-ops.js';
import { tempDir } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

let sb: Sandbox;
let stack: ServiceStack;
let proxy: Awaited<ReturnType<typeof recordingProxy>>;
const secrets = new SecretSearch();
const runs: Begun[] = [];

async function get(
  path: string,
  auth = true,
): Promise<{ status: number; type: string | null; text: string }> {
  // /metrics asks for the API token when one is configured.
  const r = await fetch(
    `${stack.url}${path}`,
    auth ? { headers: { authorization: `Bearer ${stack.apiToken}` } } : {},
  );
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

async function connect(tenant: string, o: { projectCode?: string; deny?: boolean } = {}) {
  const run = await beginConnect(stack, {
    startUrl: stack.service.context.links.create({ tenant }).url,
    ...o,
  });
  runs.push(run);
  secrets.add('state', run.state);
  secrets.add('code', run.code);
  return run.browser.get(run.callbackUrl);
}

beforeAll(async () => {
  sb = await startSandbox();
  // Noon traffic goes through a recording proxy, so the secret search knows every access token, session cookie
  // and login JWT the service really handled.
  proxy = await recordingProxy(sb.url, secrets);
  stack = await startServiceStack({ sandbox: sb, env: { NOON_LOCAL_URL: proxy.url } });
  secrets.add('client secret', stack.clientSecret);
  secrets.addPem(sb.fixtures.integrator.key!.private_key);
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await proxy?.close();
  await sb?.close();
});

describe('operations endpoints', () => {
  it('/healthz and /readyz answer 200 while the service runs', async () => {
    const h = await get('/healthz');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.text)).toEqual({ status: 'ok' });
    const r = await get('/readyz');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ status: 'ready' });
  });

  it('/metrics: the connect counters move with a connect that succeeds and one the seller denies', async () => {
    const before = (await get('/metrics')).text;
    const started0 = metric(before, 'noon_connect_connects_started_total') ?? 0;
    const completed0 = metric(before, 'noon_connect_connects_completed_total') ?? 0;
    const denied0 = metric(before, 'noon_connect_connects_failed_total', { code: 'ACCESS_DENIED' }) ?? 0;

    expect((await connect('tenant-ops', { projectCode: 'PRJ20001' })).status).toBe(303);
    const m1 = await get('/metrics');
    expect(m1.status).toBe(200);
    expect(m1.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(m1.text).toMatch(/^# TYPE noon_connect_connects_started_total counter$/m);
    expect(metric(m1.text, 'noon_connect_connects_started_total')).toBe(started0 + 1);
    expect(metric(m1.text, 'noon_connect_connects_completed_total')).toBe(completed0 + 1);

    const denied = await connect('tenant-ops-deny', { deny: true });
    expect(denied.status).toBe(200);
    expect(await denied.text()).toMatch(/Not connected/);
    const m2 = (await get('/metrics')).text;
    expect(metric(m2, 'noon_connect_connects_started_total')).toBe(started0 + 2);
    expect(metric(m2, 'noon_connect_connects_completed_total')).toBe(completed0 + 1);
    expect(metric(m2, 'noon_connect_connects_failed_total', { code: 'ACCESS_DENIED' })).toBe(denied0 + 1);
  });

  it('/metrics asks for the API token; seller API calls share one fixed label so no path reaches it', async () => {
    expect((await get('/metrics', false)).status).toBe(401);
    await connect('tenant-metrics-label');
    const conn = (
      await stack.service.context.connector.listConnections({ tenant: 'tenant-metrics-label' })
    )[0];
    expect(conn).toBeDefined();
    {
      const session = await stack.service.context.connector.sellerSession(conn!.tenant, conn!.sellerProject);
      await session.request('GET', '/catalog/v1/items/ORDER-PRIVATE-1').catch(() => undefined);
      const text = (await get('/metrics')).text;
      expect(text.split('\n').filter((l) => l.includes('ORDER-PRIVATE-1'))).toEqual([]);
      expect(text).toMatch(/endpoint="seller_api"/);
    }
  });

  it('/metrics: the upstream latency histogram has samples for every Noon endpoint a connect used', async () => {
    const text = (await get('/metrics')).text;
    expect(text).toMatch(/^# TYPE noon_connect_upstream_request_seconds histogram$/m);
    for (const endpoint of ['login', 'token.create', 'token.exchange', 'whoami']) {
      const labels = { endpoint, status: '200' };
      const count = metric(text, 'noon_connect_upstream_request_seconds_count', labels);
      expect(count, endpoint).toBeGreaterThanOrEqual(1);
      // Buckets are cumulative: +Inf holds every sample.
      expect(metric(text, 'noon_connect_upstream_request_seconds_bucket', { ...labels, le: '+Inf' })).toBe(
        count,
      );
      expect(metric(text, 'noon_connect_upstream_request_seconds_sum', labels)).toBeGreaterThan(0);
    }
  });

  it('U8 /metrics: the orphan gauge counts ORPHAN_SUSPECTED and NEEDS_RECONNECT attempts, not others', async () => {
    const g0 = metric((await get('/metrics')).text, 'noon_connect_orphans');
    expect(g0).toBe(0);
    // The exchange is processed upstream but its answer is lost, and the resend says "already used": a key may
    // exist that the service lacks; the seller's account is unknown here, so the attempt needs a reconnect.
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
    await connect('tenant-orphan', { projectCode: 'PRJ20004' });
    const [orphan] = await stack.service.context.store.listAttempts({ tenant: 'tenant-orphan' });
    expect(orphan?.status).toBe('NEEDS_RECONNECT');
    const m1 = (await get('/metrics')).text;
    expect(metric(m1, 'noon_connect_orphans')).toBe(1);
    expect(metric(m1, 'noon_connect_connects_failed_total', { code: 'NEEDS_RECONNECT' })).toBe(1);

    const now = sb.clock.now();
    for (const status of ['ORPHAN_SUSPECTED', 'FAILED', 'NEEDS_ATTENTION'] as const) {
      await stack.service.context.store.createAttempt({
        id: `gauge-${status}-${randomBytes(4).toString('hex')}`,
        status,
        tenant: 'tenant-gauge',
        sellerProject: 'PRJ20002',
        stateHash: randomBytes(32).toString('hex'),
        environment: 'local',
        returnTo: '/',
        createdAt: now,
        expiresAt: now + 60_000,
      });
    }
    const m2 = (await get('/metrics')).text;
    expect(metric(m2, 'noon_connect_orphans')).toBe(2);
    expect(metric(m2, 'noon_connect_needs_attention')).toBe(1);
  });

  it('logs are structured JSON lines and carry no secret: client secret, PEM lines, codes, states, tokens, cookies', async () => {
    expect(stack.logs.length).toBeGreaterThan(10);
    for (const line of stack.logs) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(typeof entry.level, line).toBe('number');
      expect(typeof entry.time, line).toBe('number');
      expect(typeof entry.msg, line).toBe('string');
    }
    const entries = stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.some((e) => typeof e.upstream === 'string' && e.event === 'response')).toBe(true);
    expect(entries.some((e) => e.msg === 'orphan key suspected' && typeof e.attemptId === 'string')).toBe(
      true,
    );

    // The seller keys the service stored (opened from the store) are secrets too.
    const opened = await openServiceStore(stack.env);
    try {
      for (const cred of await opened.store.listCredentials({})) {
        const file = await opened.vault.open(cred.sealed, {
          tenant: cred.tenant,
          project: cred.sellerProject,
          credentialId: cred.id,
          purpose: 'seller-key-file',
        });
        secrets.addPem((JSON.parse(file.toString('utf8')) as { private_key: string }).private_key);
      }
    } finally {
      await opened.close();
    }
    // The search is only worth something if it knows secrets of every kind the service handled.
    for (const kind of [
      'client secret',
      'code',
      'state',
      'access token',
      'session cookie',
      'login JWT',
      'PEM',
    ] as const)
      expect(secrets.count(kind), kind).toBeGreaterThan(0);
    for (const [i, line] of stack.logs.entries()) secrets.capture(`log[${i}]`, line);
    expect(secrets.findings()).toEqual([]);

    // Values of our own that must not be logged either: the master key, the dashboard and API tokens, the signed
    // link and the browser binding cookie.
    const own = [stack.masterKey, stack.adminToken!, stack.apiToken!];
    for (const run of runs) {
      own.push(new URL(run.start.url).searchParams.get('t')!);
      for (const v of run.browser.cookies.values()) if (v.length >= 12) own.push(v);
    }
    const all = stack.logs.join('\n');
    for (const v of own) expect(all.includes(v), 'an own secret is in the logs').toBe(false);
  });

  it('/readyz answers 503 while the service drains, and the callback in flight still finishes', async () => {
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'latency', ms: 1500 } });
    const run = await beginConnect(stack, {
      startUrl: stack.service.context.links.create({ tenant: 'tenant-drain' }).url,
      projectCode: 'PRJ20002',
    });
    const callback = run.browser.get(run.callbackUrl);
    const store = stack.service.context.store;
    await waitFor(
      'the exchange to be in flight',
      async () => (await store.listAttempts({ tenant: 'tenant-drain' }))[0]?.status === 'EXCHANGE_SENT',
    );
    const closing = stack.service.close();
    const ready = await stack.service.fetch(new Request(`${stack.url}/readyz`));
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining' });
    const res = await callback;
    expect(res.status).toBe(303);
    await closing;
  });
});

describe('readiness with the store down', () => {
  it('/readyz answers 503 when the store does not answer; /healthz still 200', async () => {
    const second = await startServiceStack({ sandbox: sb });
    try {
      const ok = await fetch(`${second.url}/readyz`);
      expect(ok.status).toBe(200);
      await second.service.context.store.close();
      const down = await fetch(`${second.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ status: 'store unavailable' });
      expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    } finally {
      await second.close().catch(() => {});
    }
  });
});

describe('noon-connect dev', () => {
  it('prints the dashboard URL it serves at, again on a second start over the same data folder', async () => {
    const dir = tempDir('nc-dev-');
    const start = async () => {
      const port = await freePort();
      const t0 = performance.now();
      const run = runCli(['dev', '--port', String(port), '--sandbox-port', '0', '--data-dir', dir]);
      const [, url] = await run.waitFor(/dashboard:\s+(http:\/\/127\.0\.0\.1:\d+)\//, 20_000);
      const [, signIn] = await run.waitFor(/sign in:\s+(http:\/\/\S+)/, 20_000);
      return { run, url: url!, signIn: signIn!, port, ms: performance.now() - t0 };
    };
    // The first run creates the data folder, master key, sandbox fixtures and key cache.
    const first = await start();
    first.run.child.kill('SIGTERM');
    expect(await first.run.exit).toBe(0);

    const second = await start();
    try {
      expect(second.url).toBe(`http://127.0.0.1:${second.port}`);
      // It really serves at that URL.
      expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
      // H1: a sign-in link with a token made at this start (another than the first start's); the REST API takes
      // the same token, and nothing without it.
      const link = new URL(second.signIn);
      expect(`${link.origin}${link.pathname}`).toBe(`${second.url}/sign-in`);
      const token = link.searchParams.get('token')!;
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(first.signIn).not.toContain(token);
      expect((await fetch(`${second.url}/api/connections`)).status).toBe(401);
      expect(
        (await fetch(`${second.url}/api/connections`, { headers: { authorization: `Bearer ${token}` } }))
          .status,
      ).toBe(200);
      // H6: what it made in the data folder is its user's only.
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const f of [
        'master.key',
        'connect.db',
        'sandbox.db',
        'sandbox-admin.token',
        'integrator-key.json',
      ])
        expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
      process.stdout.write(
        `noon-connect dev: dashboard URL printed ${Math.round(second.ms)} ms after spawn\n`,
      );
    } finally {
      second.run.child.kill('SIGTERM');
    }
    expect(await second.run.exit).toBe(0);
    expect(second.run.stdout()).toMatch(/noon-connect dev stopped/);
  });
});
