// H4: sign-in throttling was per cookie: with a fresh cookie per try, 200 wrong tokens in 2.9 s and no 429; tokens
// of 24 identical characters and admin token = API token were accepted. Now every try is counted in the store per
// client address and overall (for addresses that never signed in), before the token is judged, and start-up
// refuses tokens without entropy.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAddress } from '../../src/service/access.js';
import { runCli } from '../helpers/cli.js';
import { goodEnv, problemsOf } from '../helpers/config-env.js';
import { csrfIn } from '../helpers/dashboard-agent.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { childEnv } from '../helpers/service-ops.js';

/**
 * One sign-in try by a browser that has never been here (a fresh dashboard cookie and CSRF token), carrying
 * `cookie` (a known-browser mark) and `X-Forwarded-For: forwardedFor` when given.
 */
async function signInTry(
  stack: ServiceStack,
  token: string,
  o: { cookie?: string | undefined; forwardedFor?: string | undefined } = {},
): Promise<{ status: number; setCookies: string[] }> {
  const forwarded = o.forwardedFor ? { 'x-forwarded-for': o.forwardedFor } : {};
  const form = await fetch(`${stack.url}/sign-in`, { headers: forwarded });
  const dash = form.headers.getSetCookie()[0]!.split(';')[0]!;
  const r = await fetch(`${stack.url}/sign-in`, {
    method: 'POST',
    headers: {
      ...forwarded,
      cookie: o.cookie ? `${dash}; ${o.cookie}` : dash,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ csrf: csrfIn(await form.text()), next: '/', token }).toString(),
    redirect: 'manual',
  });
  await r.arrayBuffer();
  return { status: r.status, setCookies: r.headers.getSetCookie() };
}

describe('H4 sign-in limits hold whatever the cookies', () => {
  let stack: ServiceStack;

  beforeAll(async () => {
    stack = await startServiceStack({ env: { NOON_CONNECT_TRUSTED_PROXIES: '1' } });
  });

  afterAll(async () => {
    await stack?.close();
  });

  function startOfWindow(): void {
    stack.sb.clock.advance(60_000 - (stack.sb.clock.now() % 60_000) + 10);
  }

  /** One sign-in try from `address` by a browser that has never been here: a fresh cookie and CSRF token. */
  async function freshTry(address: string, token: string): Promise<number> {
    return (await signInTry(stack, token, { forwardedFor: address })).status;
  }

  async function tries(n: number, address: (i: number) => string): Promise<Record<number, number>> {
    const statuses: Record<number, number> = {};
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let i = next++; i < n; i = next++) {
          const s = await freshTry(address(i), `wrong-token-${i}-${randomBytes(8).toString('hex')}`);
          statuses[s] = (statuses[s] ?? 0) + 1;
        }
      }),
    );
    return statuses;
  }

  it('H4 200 wrong tokens from one address, each with a fresh cookie: 10 are judged, 190 refused 429; the admin there waits a minute at most', async () => {
    startOfWindow();
    expect(await tries(200, () => '198.51.100.20')).toEqual({ 401: 10, 429: 190 });
    expect(await freshTry('198.51.100.20', stack.adminToken!)).toBe(429);
    stack.sb.clock.advance(61_000);
    expect(await freshTry('198.51.100.20', stack.adminToken!)).toBe(303);
  });

  it('H4 wrong tokens from 150 addresses: 100 a minute are judged overall; the admin’s known address still signs in, a new one within a minute', async () => {
    startOfWindow();
    expect(await freshTry('192.0.2.1', stack.adminToken!)).toBe(303);
    startOfWindow();
    expect(await tries(150, (i) => `203.0.113.${i + 1}`)).toEqual({ 401: 100, 429: 50 });
    expect(await freshTry('192.0.2.99', stack.adminToken!)).toBe(429);
    expect(await freshTry('192.0.2.1', stack.adminToken!)).toBe(303);
    stack.sb.clock.advance(61_000);
    expect(await freshTry('192.0.2.99', stack.adminToken!)).toBe(303);
  });
});

describe('H4 wrong bearer tokens are limited per address like sign-ins', () => {
  let stack: ServiceStack;

  beforeAll(async () => {
    stack = await startServiceStack({ env: { NOON_CONNECT_TRUSTED_PROXIES: '1' } });
  });

  afterAll(async () => {
    await stack?.close();
  });

  async function list(address: string, token: string): Promise<number> {
    const r = await fetch(`${stack.url}/api/connections`, {
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': address },
    });
    await r.arrayBuffer();
    return r.status;
  }

  it('H4 25 wrong API tokens from one address: 20 judged (401), then 429 even for the right token; other addresses unaffected', async () => {
    stack.sb.clock.advance(60_000 - (stack.sb.clock.now() % 60_000) + 10);
    const statuses: Record<number, number> = {};
    for (let i = 0; i < 25; i++) {
      const s = await list('198.51.100.77', `wrong-${randomBytes(16).toString('hex')}`);
      statuses[s] = (statuses[s] ?? 0) + 1;
    }
    expect(statuses).toEqual({ 401: 20, 429: 5 });
    expect(await list('198.51.100.77', stack.apiToken!)).toBe(429);
    expect(await list('198.51.100.78', stack.apiToken!)).toBe(200);
    stack.sb.clock.advance(61_000);
    expect(await list('198.51.100.77', stack.apiToken!)).toBe(200);
  });
});

describe('H4 a browser that signed in before keeps its own budget', () => {
  let stack: ServiceStack;

  beforeAll(async () => {
    // No trusted proxies: behind a proxy every client has the proxy's address, as in a deployment that forgot
    // NOON_CONNECT_TRUSTED_PROXIES.
    stack = await startServiceStack();
  });

  afterAll(async () => {
    await stack?.close();
  });

  const attempt = (token: string, cookie?: string, forwardedFor?: string) =>
    signInTry(stack, token, { cookie, forwardedFor });

  it('H4 guesses that use up the shared address keep out new browsers, not the admin’s; a forged mark buys nothing', async () => {
    stack.sb.clock.advance(60_000 - (stack.sb.clock.now() % 60_000) + 10);
    const first = await attempt(stack.adminToken!);
    expect(first.status).toBe(303);
    const mark = first.setCookies.find((c) => c.startsWith('nc_known='))?.split(';')[0];
    expect(mark).toMatch(/^nc_known=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    stack.sb.clock.advance(61_000);
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++)
      statuses.push((await attempt(`wrong-${randomBytes(12).toString('hex')}`)).status);
    expect(statuses.filter((s) => s === 429).length).toBe(5);
    const [id] = mark!.slice('nc_known='.length).split('.');
    const forged = `nc_known=${id}.${'A'.repeat(43)}`;
    expect((await attempt(stack.adminToken!, forged)).status).toBe(429);
    expect((await attempt(stack.adminToken!)).status).toBe(429);
    const again = await attempt(stack.adminToken!, mark);
    expect(again.status).toBe(303);
    // The mark is not handed out again to a browser that has one.
    expect(again.setCookies.some((c) => c.startsWith('nc_known='))).toBe(false);
  });

  it('H4 X-Forwarded-For arriving while no proxy is trusted: one warning that says what to set, the header not believed', async () => {
    const warned = () => stack.logs.filter((l) => l.includes('NOON_CONNECT_TRUSTED_PROXIES is 0')).length;
    expect(warned()).toBe(0);
    stack.sb.clock.advance(61_000);
    const statuses: number[] = [];
    // Each try names another address; were the header believed, none would share the socket's budget.
    for (let i = 0; i < 12; i++)
      statuses.push(
        (await attempt(`wrong-${randomBytes(12).toString('hex')}`, undefined, `198.51.100.${i}`)).status,
      );
    expect(statuses.filter((s) => s === 429).length).toBe(2);
    expect(warned()).toBe(1);
  });
});

describe('H4 one client is one client, however many addresses it holds', () => {
  it('H4 every address of one IPv6 /64 counts as one client; another /64, IPv4 and an IPv4-mapped address are their own', () => {
    const of = (a: string) => clientAddress(a, null, 0);
    expect(of('2001:db8:1:2:3:4:5:6')).toBe(of('2001:db8:1:2:ffff::1'));
    expect(of('[2001:DB8:0001:0002::9]:443')).toBe(of('2001:db8:1:2::1'));
    expect(of('2001:db8:1:3::1')).not.toBe(of('2001:db8:1:2::1'));
    expect(of('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(of('10.0.0.1')).not.toBe(of('10.0.0.2'));
    // Behind one trusted proxy the entry it wrote counts, not what the client put further left.
    expect(clientAddress('127.0.0.1', '2001:db8:9::1, 2001:db8:1:2::7', 1)).toBe(of('2001:db8:1:2::1'));
  });
});

describe('H4 tokens must have real entropy', () => {
  const env = (over: Record<string, string | undefined>) =>
    goodEnv({
      NOON_CONNECT_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
      NOON_CONNECT_API_TOKEN: randomBytes(24).toString('base64url'),
      ...over,
    });
  const problems = (over: Record<string, string | undefined>) => problemsOf(env(over));

  it('H4 24 identical characters, a repeated word, words and keyboard runs, and admin token = API token are refused; random tokens pass', async () => {
    expect(problems({})).toEqual([]);
    expect(
      problems({ NOON_CONNECT_ADMIN_TOKEN: 'a'.repeat(24), NOON_CONNECT_API_TOKEN: 'password1'.repeat(3) }),
    ).toEqual([
      'NOON_CONNECT_ADMIN_TOKEN is too easy to guess: use random characters, e.g. `openssl rand -base64 32`',
      'NOON_CONNECT_API_TOKEN is too easy to guess: use random characters, e.g. `openssl rand -base64 32`',
    ]);
    const same = randomBytes(24).toString('base64url');
    expect(problems({ NOON_CONNECT_ADMIN_TOKEN: same, NOON_CONNECT_API_TOKEN: same })).toEqual([
      'NOON_CONNECT_ADMIN_TOKEN and NOON_CONNECT_API_TOKEN must differ',
    ]);
    // Hand-made tokens whose characters vary but whose words and sequences are guessable.
    for (const weak of [
      'passwordpasswordpassword1',
      'changeme-changeme-changeme',
      '012345678901234567890123',
      'qwertyuiopasdfghjklzxcvb',
      'my-admin-token-for-prod-2026',
    ])
      expect(problems({ NOON_CONNECT_ADMIN_TOKEN: weak }), weak).toEqual([
        'NOON_CONNECT_ADMIN_TOKEN is too easy to guess: use random characters, e.g. `openssl rand -base64 32`',
      ]);
    for (const random of [randomBytes(12).toString('hex'), randomBytes(32).toString('base64')])
      expect(problems({ NOON_CONNECT_ADMIN_TOKEN: random }), random.length.toString()).toEqual([]);
    const run = runCli(['serve'], childEnv(env({ NOON_CONNECT_ADMIN_TOKEN: 'z'.repeat(32) })));
    expect(await run.exit).toBe(3);
    expect(run.stderr()).toContain('NOON_CONNECT_ADMIN_TOKEN is too easy to guess');
    expect(run.stderr()).not.toContain('z'.repeat(32));
  });
});
