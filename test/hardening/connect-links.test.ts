// H2: connect links were reusable for an hour, by anyone (one link started three flows; a forwarded link could
// connect another seller under the tenant). H3: one link flooded the attempts table (1,000 starts from one
// client, each a row, never deleted). Now a link is single use by default and short-lived, the service limits
// starts per link and per client address in the store (across instances and restarts), an e-mail-safe link
// starts only on its Continue button, and the reconciler purges old ended attempts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formFor } from '../helpers/browser.js';
import { Agent, csrfIn } from '../helpers/dashboard-agent.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { Browser } from '../helpers/seller-flow.js';

async function newLink(
  stack: ServiceStack,
  body: Record<string, unknown>,
): Promise<{ url: string; expiresAt: number }> {
  const r = await fetch(`${stack.url}/api/connect-links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(r.status).toBe(201);
  const json = (await r.json()) as { url: string; expires_at: string };
  return { url: json.url, expiresAt: Date.parse(json.expires_at) };
}

async function attemptsOf(stack: ServiceStack, tenant: string): Promise<number> {
  return (await stack.service.context.store.listAttempts({ tenant, limit: 100_000 })).length;
}

/** Moves the sandbox clock (the services' clock) to just after the start of a minute, a limit window. */
function startOfWindow(stack: ServiceStack): void {
  stack.sb.clock.advance(60_000 - (stack.sb.clock.now() % 60_000) + 10);
}

describe('H2 connect links are single use and short-lived', () => {
  let a: ServiceStack;

  beforeAll(async () => {
    a = await startServiceStack();
  });

  afterAll(async () => {
    await a?.close();
  });

  it('H2 one link started three times (the same browser, another browser it was forwarded to): one flow, then "already used"', async () => {
    const link = await newLink(a, { tenant: 'tenant-h2' });
    // Ten minutes by default, not an hour.
    expect(link.expiresAt - a.sb.clock.now()).toBeGreaterThan(9 * 60_000);
    expect(link.expiresAt - a.sb.clock.now()).toBeLessThanOrEqual(10 * 60_000);
    const first = new Browser();
    const started = await first.page(link.url);
    expect(started.status).toBe(303);
    expect(new URL(started.location!).origin).toBe(new URL(a.sb.authorizeUrl).origin);
    for (const browser of [first, new Browser(), new Browser()]) {
      const again = await browser.page(link.url);
      expect(again.status).toBe(410);
      expect(again.text).toContain('This connect link was already used');
      expect(again.location).toBeNull();
      expect(again.headers.getSetCookie()).toEqual([]);
    }
    expect(await attemptsOf(a, 'tenant-h2')).toBe(1);
  });

  it('H2 a link used on one instance is used on every other, and after a restart', async () => {
    const shared = {
      NOON_CONNECT_STORE: a.env.NOON_CONNECT_STORE,
      NOON_CONNECT_MASTER_KEY: a.env.NOON_CONNECT_MASTER_KEY,
    };
    const b = await startServiceStack({ sandbox: a.sb, env: shared });
    const link = await newLink(a, { tenant: 'tenant-h2-multi' });
    const onB = link.url.replace(a.url, b.url);
    try {
      expect((await new Browser().page(onB)).status).toBe(303);
      expect((await new Browser().page(link.url)).status).toBe(410);
    } finally {
      await b.close();
    }
    const c = await startServiceStack({ sandbox: a.sb, env: shared });
    try {
      expect((await new Browser().page(link.url.replace(a.url, c.url))).status).toBe(410);
    } finally {
      await c.close();
    }
    expect(await attemptsOf(a, 'tenant-h2-multi')).toBe(1);
  });

  it('H2 a link expires after its lifetime: the configured default, or its own expires_in', async () => {
    const own = await newLink(a, { tenant: 'tenant-h2-ttl', expires_in: 120 });
    expect(own.expiresAt - a.sb.clock.now()).toBeLessThanOrEqual(120_000);
    a.sb.clock.advance(121_000);
    const late = await new Browser().page(own.url);
    expect(late.status).toBe(400);
    expect(late.text).toContain('not valid or has expired');
    for (const expires_in of [59, 604_801, 1.5, '600'])
      expect(
        (
          await fetch(`${a.url}/api/connect-links`, {
            method: 'POST',
            headers: { authorization: `Bearer ${a.apiToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ tenant: 't', expires_in }),
          })
        ).status,
        String(expires_in),
      ).toBe(400);
    expect(await attemptsOf(a, 'tenant-h2-ttl')).toBe(0);
  });

  it('H2 the e-mail-safe link: a scanner opening it starts nothing; its Continue button starts once', async () => {
    const link = await newLink(a, { tenant: 'tenant-h2-mail', confirm: true, expires_in: 86_400 });
    const browser = new Browser();
    for (let i = 0; i < 3; i++) {
      const shown = await new Browser().page(link.url);
      expect(shown.status).toBe(200);
      expect(shown.text).toContain('Continue');
      expect(shown.headers.getSetCookie()).toEqual([]);
    }
    expect(await attemptsOf(a, 'tenant-h2-mail')).toBe(0);
    const page = await browser.page(link.url);
    const form = formFor(page.text, '/connect/start');
    expect(form.method).toBe('POST');
    const post = () =>
      fetch(`${a.url}${form.action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form.fields).toString(),
        redirect: 'manual',
      });
    const started = await post();
    expect(started.status).toBe(303);
    expect(new URL(started.headers.get('location')!).origin).toBe(new URL(a.sb.authorizeUrl).origin);
    expect((await post()).status).toBe(410);
    expect(await attemptsOf(a, 'tenant-h2-mail')).toBe(1);
  });
});

describe('H3 starts are limited per client and per link; old attempts are purged', () => {
  let stack: ServiceStack;

  beforeAll(async () => {
    stack = await startServiceStack({
      env: {
        NOON_CONNECT_START_LIMIT: '20',
        NOON_CONNECT_LINK_MAX_STARTS: '100',
        NOON_CONNECT_TRUSTED_PROXIES: '1',
      },
    });
  });

  afterAll(async () => {
    await stack?.close();
  });

  /** `n` starts of `url`, `inFlight` at a time, each from the address `from(i)` (X-Forwarded-For). */
  async function burst(url: string, n: number, from: (i: number) => string): Promise<Record<number, number>> {
    const statuses: Record<number, number> = {};
    let next = 0;
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        for (let i = next++; i < n; i = next++) {
          const r = await fetch(url, { headers: { 'x-forwarded-for': from(i) }, redirect: 'manual' });
          await r.arrayBuffer();
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        }
      }),
    );
    return statuses;
  }

  it('H3 1,000 starts of one link from one client in a burst: 20 start a flow, 980 are refused 429; other clients still start, up to the link limit', async () => {
    const link = await newLink(stack, { tenant: 'tenant-h3' });
    startOfWindow(stack);
    expect(await burst(link.url, 1000, () => '198.51.100.7')).toEqual({ 303: 20, 429: 980 });
    expect(await attemptsOf(stack, 'tenant-h3')).toBe(20);
    const refused = await fetch(link.url, {
      headers: { 'x-forwarded-for': '198.51.100.7' },
      redirect: 'manual',
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Other addresses are not held back by that one; the link's own limit (100 starts) still holds.
    expect(await burst(link.url, 100, (i) => `203.0.113.${i + 1}`)).toEqual({ 303: 80, 410: 20 });
    expect(await attemptsOf(stack, 'tenant-h3')).toBe(100);
    // A client address the proxy did not write (the client's own X-Forwarded-For entries) is not believed.
    startOfWindow(stack);
    const spoofed = await burst(link.url, 30, (i) => `10.9.9.${i}, 198.51.100.8`);
    expect(spoofed[429]).toBe(10);
  });

  it('H3 the reconciler purges ended attempts past the retention age in bounded batches, and the dashboard counts them', async () => {
    const ctx = stack.service.context;
    expect(await attemptsOf(stack, 'tenant-h3')).toBeGreaterThanOrEqual(100);
    // The links expire (STARTED → FAILED), then age past the 30 days kept.
    stack.sb.clock.advance(11 * 60_000);
    await stack.service.reconcile();
    expect(await ctx.store.countAttempts(['STARTED'])).toBe(0);
    stack.sb.clock.advance(31 * 24 * 60 * 60_000);
    await stack.service.reconcile();
    expect(await attemptsOf(stack, 'tenant-h3')).toBe(0);
    const admin = new Agent(stack.url, new SecretSearch());
    const form = await admin.get('/sign-in');
    expect(
      (await admin.post('/sign-in', { csrf: csrfIn(form.text), next: '/', token: stack.adminToken! })).status,
    ).toBe(303);
    const page = await admin.get('/attempts');
    expect(page.status).toBe(200);
    const removed = /Removed so far: (\d+) attempts/.exec(page.text);
    expect(Number(removed?.[1])).toBeGreaterThanOrEqual(100);
    expect(page.text).toContain('kept 30 days');
  });
});
