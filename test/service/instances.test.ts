// Two service instances on one Postgres: admin sessions live in the store (any instance accepts one, a restart
// loses none, signing out revokes it everywhere), per-tenant API tokens (hashed, shown once, scoped, revoked on
// every instance at once, never in logs, rows or later answers), the audit log, and the scheduled health check
// that finds a key removed upstream on exactly one instance with exactly one event.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { runCli } from '../helpers/cli.js';
import { Agent, csrfIn } from '../helpers/dashboard-agent.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { connectThrough, freshSeller } from '../helpers/seller-flow.js';
import { childEnv } from '../helpers/service-ops.js';
import { PG_URL, postgresAvailable } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

const available = await postgresAvailable();

/** Another instance of `a`'s deployment: its store, master key, tokens and OAuth client. */
function peerEnv(a: ServiceStack, healthIntervalMs: string): Record<string, string | undefined> {
  return {
    NOON_CONNECT_STORE: a.env.NOON_CONNECT_STORE,
    NOON_CONNECT_MASTER_KEY: a.env.NOON_CONNECT_MASTER_KEY,
    NOON_CONNECT_ADMIN_TOKEN: a.adminToken,
    NOON_CONNECT_API_TOKEN: a.apiToken,
    NOON_CLIENT_ID: a.clientId,
    NOON_CLIENT_SECRET: a.clientSecret,
    NOON_CONNECT_HEALTH_INTERVAL_MS: healthIntervalMs,
  };
}

describe.skipIf(!available)('several instances on one Postgres', () => {
  let sb: Sandbox;
  let a: ServiceStack;
  let b: ServiceStack | undefined;
  /** Every answer body the tests saw after a token was created, and the tokens to look for. */
  const seen: string[] = [];
  const tokens: string[] = [];
  const search = new SecretSearch();

  // The scheduled rounds are run by the test (both instances at once), not by timers.
  const startB = () =>
    startServiceStack({ sandbox: sb, env: peerEnv(a, '60000'), deps: { startScheduler: false } });

  async function api(
    base: string,
    method: string,
    path: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; json: any; text: string }> {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    seen.push(text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: r.status, json, text };
  }

  async function connectSeller(tenant: string) {
    const seller = freshSeller(sb);
    const trip = await connectThrough(a, {
      tenant,
      projectCode: seller.projectCode,
      email: seller.email,
      startUrl: a.service.context.links.create({ tenant }).url,
    });
    expect(trip.callback.status).toBe(303);
    const c = (await a.service.context.store.listConnections({ tenant }))[0];
    expect(c?.status).toBe('active');
    return c!;
  }

  /** Every row of every table of the test schema, as text. */
  async function storeDump(): Promise<string> {
    const schema = new URL(a.env.NOON_CONNECT_STORE!).searchParams.get('schema')!;
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      const tables = await c.query(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [schema],
      );
      const out: string[] = [];
      for (const { table_name } of tables.rows as { table_name: string }[]) {
        const rows = await c.query(`SELECT * FROM "${schema}"."${table_name}"`);
        out.push(`# ${table_name}`, ...rows.rows.map((r) => JSON.stringify(r)));
      }
      return out.join('\n');
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    sb = await startSandbox();
    a = await startServiceStack({
      sandbox: sb,
      store: 'postgres',
      env: { NOON_CONNECT_HEALTH_INTERVAL_MS: '60000' },
      deps: { startScheduler: false },
    });
    b = await startB();
  }, 90_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await sb?.close();
  });

  it('an admin session made on one instance works on the other, survives a restart, and sign-out ends it everywhere', async () => {
    const agent = new Agent(a.url, search);
    const form = await agent.get('/sign-in');
    const signedIn = await agent.post('/sign-in', {
      csrf: csrfIn(form.text),
      token: a.adminToken!,
      next: '/',
    });
    expect(signedIn.status).toBe(303);
    // The session's cookie value is never stored: only its hash.
    const cookie = [...agent.cookies.values()][0]!;
    expect(await storeDump()).not.toContain(cookie);
    expect((await agent.get(`${b!.url}/`)).status).toBe(200);
    expect((await agent.get('/')).status).toBe(200);

    // A restart of B loses nothing (a fresh process on the same store).
    await b!.close();
    b = await startB();
    const page = await agent.get(`${b.url}/`);
    expect(page.status).toBe(200);

    // A form rendered by A is accepted by B (the CSRF key is shared), and B's sign-out revokes the session on A.
    const out = await agent.post(`${b.url}/sign-out`, { csrf: csrfIn((await agent.get('/')).text) });
    expect(out.status).toBe(303);
    agent.cookies.set('nc_dash', cookie);
    const after = await agent.get('/');
    expect(after.status).toBe(303);
    expect(after.location).toMatch(/^\/sign-in/);
    expect((await agent.get(`${b.url}/`)).status).toBe(303);
    const rows = await a.service.context.store.listAudit({ limit: 50 });
    expect(
      rows.filter((r) => r.action === 'sign-in' || r.action === 'sign-out').map((r) => r.action),
    ).toEqual(['sign-out', 'sign-in']);
  });

  it('a tenant-scoped token cannot read, rotate, disconnect, check, proxy or link another tenant: 404, nothing upstream', async () => {
    const mine = await connectSeller('tenant-own');
    const other = await connectSeller('tenant-other');
    const made = await api(a.url, 'POST', '/api/tokens', a.apiToken!, {
      name: 'own backend',
      tenant: 'tenant-own',
    });
    expect(made.status).toBe(201);
    const token = made.json.token as string;
    tokens.push(token);
    seen.pop(); // the one answer that carries it
    expect(token).toMatch(/^nct_[0-9a-f]{12}_/);
    expect(made.json.prefix).toBe(token.slice(0, 16));
    expect(made.json.tenant).toBe('tenant-own');

    // Its own tenant: visible and usable, through either instance.
    const list = await api(b!.url, 'GET', '/api/connections', token);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.json)).toContain(mine.id);
    expect(JSON.stringify(list.json)).not.toContain(other.id);
    expect((await api(a.url, 'GET', `/api/connections/${mine.id}`, token)).status).toBe(200);

    // Another tenant's connection: 404 for every operation, and nothing is sent to Noon.
    const seq = sb.journal.lastSeq;
    for (const [method, path, body] of [
      ['GET', `/api/connections/${other.id}`, undefined],
      ['POST', `/api/connections/${other.id}/rotate`, undefined],
      ['POST', `/api/connections/${other.id}/disconnect`, undefined],
      ['POST', `/api/connections/${other.id}/health-check`, undefined],
      ['POST', `/api/connections/${other.id}/proxy`, { method: 'GET', path: '/catalog/v1/items' }],
    ] as const) {
      const r = await api(b!.url, method, path, token, body);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json.error.code).toBe('CONNECTION_NOT_FOUND');
    }
    // Naming the other tenant (a link, a listing, a header) is refused.
    expect((await api(a.url, 'POST', '/api/connect-links', token, { tenant: 'tenant-other' })).status).toBe(
      403,
    );
    expect((await api(a.url, 'GET', '/api/connections?tenant=tenant-other', token)).status).toBe(403);
    expect(
      (
        await api(a.url, 'POST', '/api/connect-links', token, {
          tenant: 'tenant-own',
          connection_id: other.id,
        })
      ).status,
    ).toBe(404);
    expect(sb.journal.entries({ sinceSeq: seq })).toEqual([]);
    expect((await a.service.context.store.getConnection(other.id))?.status).toBe('active');
    // A link for its own tenant is fine; tokens cannot be managed with a scoped token.
    expect((await api(a.url, 'POST', '/api/connect-links', token, {})).status).toBe(201);
    expect((await api(a.url, 'GET', '/api/tokens', token)).status).toBe(403);
    expect((await api(a.url, 'POST', '/api/tokens', token, { name: 'x', tenant: null })).status).toBe(403);

    // The audit log names the token by its prefix, with the connection it tried, and the token reads only its
    // own tenant's records.
    const audit = await api(b!.url, 'GET', '/api/audit?limit=100', a.apiToken!);
    const byToken = (audit.json.entries as any[]).filter((e) => e.actor === `token:${made.json.prefix}`);
    expect(byToken.map((e) => `${e.action} ${e.connection_id ?? '-'} ${e.outcome}`)).toContain(
      `rotate ${other.id} 404`,
    );
    const ownAudit = await api(a.url, 'GET', '/api/audit', token);
    expect(ownAudit.status).toBe(200);
    expect((ownAudit.json.entries as any[]).every((e) => e.tenant === 'tenant-own')).toBe(true);
    const listed = await api(a.url, 'GET', '/api/tokens', a.apiToken!);
    const row = (listed.json.tokens as any[]).find((t) => t.prefix === made.json.prefix);
    expect(row.last_used_at).not.toBeNull();
    expect(row).not.toHaveProperty('token');
  });

  it('a revoked token is refused on every instance at once', async () => {
    const made = await api(b!.url, 'POST', '/api/tokens', a.apiToken!, { name: 'short-lived', tenant: null });
    const token = made.json.token as string;
    tokens.push(token);
    seen.pop();
    expect((await api(a.url, 'GET', '/api/connections', token)).status).toBe(200);
    expect((await api(b!.url, 'GET', '/api/connections', token)).status).toBe(200);
    const revoked = await api(a.url, 'POST', `/api/tokens/${made.json.prefix}/revoke`, a.apiToken!);
    expect(revoked.status).toBe(200);
    expect(revoked.json.status).toBe('revoked');
    expect((await api(b!.url, 'GET', '/api/connections', token)).status).toBe(401);
    expect((await api(a.url, 'GET', '/api/connections', token)).status).toBe(401);
    expect(
      (await api(a.url, 'POST', '/api/tokens/nct_000000000000/revoke', a.apiToken!)).json.error.code,
    ).toBe('TOKEN_NOT_FOUND');
  });

  it('the dashboard creates (shown once), lists and revokes tokens, and shows the audit log', async () => {
    const agent = new Agent(a.url, search);
    const form = await agent.get('/sign-in');
    await agent.post('/sign-in', { csrf: csrfIn(form.text), token: a.adminToken!, next: '/' });
    const page = await agent.get(`${b!.url}/tokens`);
    expect(page.status).toBe(200);
    const created = await agent.post('/tokens', {
      csrf: csrfIn(page.text),
      name: 'from dashboard',
      tenant: 'tenant-own',
    });
    expect(created.status).toBe(201);
    const token = /(nct_[0-9a-f]{12}_[A-Za-z0-9_-]{43})/.exec(created.text)?.[1];
    expect(token).toBeDefined();
    tokens.push(token!);
    const prefix = token!.slice(0, 16);
    const listing = await agent.get(`${b!.url}/tokens`);
    seen.push(listing.text);
    expect(listing.text).toContain(prefix);
    const revoked = await agent.post(`/tokens/${prefix}/revoke`, { csrf: csrfIn(listing.text) });
    expect(revoked.status).toBe(303);
    // The flash set on A shows on B (it is kept in the store).
    const back = await agent.get(`${b!.url}/tokens`);
    seen.push(back.text);
    expect(back.text).toContain(`Token ${prefix} revoked`);
    expect((await api(b!.url, 'GET', '/api/connections', token!)).status).toBe(401);
    const audit = await agent.get('/audit');
    seen.push(audit.text);
    expect(audit.text).toContain('token-revoke');
    expect(audit.text).toContain('token-create');
  });

  it('noon-connect tokens create|list|revoke (--json), on the same store', async () => {
    const env = childEnv({ ...a.env, ...peerEnv(a, '60000') });
    const cli = async (args: string[]) => {
      const r = runCli(args, env);
      const status = await r.exit;
      return { status, stdout: r.stdout(), stderr: r.stderr() };
    };
    const help = await cli(['tokens', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--all-tenants');
    const bad = await cli(['tokens', 'create', '--name', 'x']);
    expect(bad.status).toBe(2);
    const created = await cli([
      'tokens',
      'create',
      '--name',
      'cli',
      '--tenant',
      'tenant-own',
      '--expires-days',
      '30',
      '--json',
    ]);
    expect(created.status, created.stderr).toBe(0);
    const made = JSON.parse(created.stdout);
    tokens.push(made.token);
    expect(made.expires_at).not.toBeNull();
    expect((await api(b!.url, 'GET', '/api/connections', made.token)).status).toBe(200);
    const listed = await cli(['tokens', 'list', '--json']);
    seen.push(listed.stdout, listed.stderr);
    const row = JSON.parse(listed.stdout).tokens.find((t: any) => t.prefix === made.prefix);
    expect(row.tenant).toBe('tenant-own');
    const text = await cli(['tokens', 'list']);
    seen.push(text.stdout, text.stderr);
    expect(text.stdout).toContain(made.prefix);
    const revoked = await cli(['tokens', 'revoke', made.prefix]);
    seen.push(revoked.stdout, revoked.stderr);
    expect(revoked.status).toBe(0);
    expect((await api(a.url, 'GET', '/api/connections', made.token)).status).toBe(401);
    expect((await cli(['tokens', 'revoke', 'nct_ffffffffffff'])).status).toBe(4);
  });

  it('no token appears in logs, in the store (hashes only) or in any answer after its creation', async () => {
    expect(tokens.length).toBeGreaterThanOrEqual(4);
    const dump = await storeDump();
    const logs = [...a.logs, ...b!.logs].join('\n');
    for (const t of tokens) {
      expect(dump.includes(t)).toBe(false);
      expect(dump.includes(t.slice(17))).toBe(false);
      expect(logs.includes(t.slice(17))).toBe(false);
      expect(seen.some((s) => s.includes(t))).toBe(false);
    }
    // The prefixes are there, for recognition.
    expect(dump).toContain(tokens[0]!.slice(0, 16));
  });

  it('a key removed upstream is found by the next scheduled check on exactly one instance, with one event', async () => {
    const c = await connectSeller('tenant-health');
    const account = [...sb.world.accounts.values()].find((x) => x.channelIdentifier === c.channelIdentifier)!;
    const key = sb.world.activeKeys(account.userCode).find((k) => k.keyId === c.keyId)!;
    // The seller removes the key in Noon's Access App.
    sb.world.deactivateKey(key, true);
    // Both instances run their next scheduled round at once (as their timers would).
    const schedulers = [a, b!].map((s) => s.service.scheduler);
    // Each round checks its share of the due connections: rounds run until this one was checked.
    const ranOn = new Set<number>();
    let found = 0;
    for (let round = 0; round < 20; round++) {
      const reports = await Promise.all(schedulers.map((s) => s.healthPass()));
      expect(reports.filter((r) => r.ran)).toHaveLength(1);
      reports.forEach((r, i) => {
        if (r.ran) ranOn.add(i);
      });
      found += reports.reduce((n, r) => n + r.needsReconnect, 0);
      if ((await a.service.context.store.getConnection(c.id))?.status !== 'active') break;
    }
    expect(ranOn.size).toBe(1);
    expect(found).toBe(1);
    expect((await a.service.context.store.getConnection(c.id))?.status).toBe('needs_reconnect');
    const events = await a.service.context.store.listEvents({ connectionId: c.id });
    expect(events.filter((e) => e.type === 'needs_reconnect')).toHaveLength(1);
    expect(JSON.parse(events.find((e) => e.type === 'needs_reconnect')!.payload)).toMatchObject({
      connection_id: c.id,
      key_id: c.keyId,
      error_code: 'KEY_REMOVED',
    });
    const audit = await a.service.context.store.listAudit({ connectionId: c.id });
    expect(audit.map((r) => `${r.actor} ${r.action} ${r.outcome}`)).toEqual([
      'scheduler health-check needs_reconnect',
    ]);
    // The next round finds nothing more to do for it: it is no longer active.
    const again = await Promise.all(schedulers.map((s) => s.healthPass()));
    expect(again.reduce((n, r) => n + r.checked, 0)).toBe(0);
  });
  it('the rotation policy rotates a key past its age once, on one instance, make-before-break', async () => {
    const c = await connectSeller('tenant-policy');
    const { Scheduler } = await import('../../src/service/scheduler.js');
    const { Leases } = await import('../../src/service/leases.js');
    // Two days later, with a one-day policy: both instances' rounds start at once.
    const later = () => Date.now() + 2 * 86_400_000;
    const rounds = [a, b!].map((s) => {
      const ctx = s.service.context;
      return new Scheduler({
        store: ctx.store,
        connector: ctx.connector,
        apiUsers: {
          listCredentials: async () => {
            throw new Error('not used by the rotation policy');
          },
        },
        leases: new Leases(ctx.store, later),
        logger: ctx.logger,
        audit: ctx.audit,
        now: later,
        settings: { healthIntervalMs: 0, healthConcurrency: 1, rotateAfterDays: 1 },
        webhookEndpoints: [],
      }).rotationPass();
    });
    const reports = await Promise.all(rounds);
    expect(reports.filter((r) => r.ran)).toHaveLength(1);
    const after = (await a.service.context.store.getConnection(c.id))!;
    expect(after.status).toBe('active');
    expect(after.keyId).not.toBe(c.keyId);
    // Make-before-break: the new key is live at Noon, the old one removed.
    const ledger = sb.ledger.entries({ sellerProject: c.sellerProject });
    expect(ledger.find((e) => e.keyId === c.keyId)?.removedAt).toBeDefined();
    expect(ledger.find((e) => e.keyId === after.keyId)?.removedAt).toBeUndefined();
    const audit = await a.service.context.store.listAudit({ connectionId: c.id });
    expect(
      audit.filter((r) => r.actor === 'scheduler' && r.action === 'rotate' && r.outcome === 'ok'),
    ).toHaveLength(1);
  });
});

describe.skipIf(!available)('scheduled health checks on their timers, two instances', () => {
  let sb: Sandbox;
  let a: ServiceStack;
  let b: ServiceStack | undefined;

  beforeAll(async () => {
    sb = await startSandbox();
    // Every active connection checked every 2 s (a round each 1 s), by whichever instance holds the lease.
    a = await startServiceStack({
      sandbox: sb,
      store: 'postgres',
      env: { NOON_CONNECT_HEALTH_INTERVAL_MS: '2000' },
    });
    b = await startServiceStack({ sandbox: sb, env: peerEnv(a, '2000') });
  }, 90_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await sb?.close();
  });

  it('a key the seller removed is found by the next scheduled check on exactly one instance, with one event', async () => {
    const seller = freshSeller(sb);
    const tenant = 'tenant-timers';
    await connectThrough(a, {
      tenant,
      projectCode: seller.projectCode,
      email: seller.email,
      startUrl: a.service.context.links.create({ tenant }).url,
    });
    const store = a.service.context.store;
    const c = (await store.listConnections({ tenant }))[0]!;
    // Checked while its key is live: it stays active.
    await waitFor(
      'a scheduled check of the live key',
      async () => (await store.getConnection(c.id))?.lastHealthOk,
      {
        timeoutMs: 30_000,
      },
    );
    const account = [...sb.world.accounts.values()].find((x) => x.channelIdentifier === c.channelIdentifier)!;
    sb.world.deactivateKey(sb.world.activeKeys(account.userCode).find((k) => k.keyId === c.keyId)!, true);
    await waitFor(
      'needs_reconnect',
      async () => (await store.getConnection(c.id))?.status === 'needs_reconnect',
      { timeoutMs: 30_000 },
    );
    // A few more rounds on both instances change nothing.
    await new Promise((r) => setTimeout(r, 3000));
    const events = (await store.listEvents({ connectionId: c.id })).filter(
      (e) => e.type === 'needs_reconnect',
    );
    expect(events).toHaveLength(1);
    const finders = [a, b!].filter((s) =>
      s.logs.some((l) => l.includes('key removed upstream: needs reconnect')),
    );
    expect(finders).toHaveLength(1);
    expect((await store.listAudit({ connectionId: c.id })).map((r) => `${r.actor} ${r.outcome}`)).toEqual([
      'scheduler needs_reconnect',
    ]);
  }, 90_000);
});
