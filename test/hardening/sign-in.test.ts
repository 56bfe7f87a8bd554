// H4: sign-in throttling was per cookie: with a fresh cookie per try, 200 wrong tokens in 2.9 s and no 429; tokens
// of 24 identical characters and admin token = API token were accepted. Now every try is counted in the store per
// client address and overall (for addresses that never signed in), before the token is judged, and start-up
// refuses tokens without entropy.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { goodEnv, problemsOf } from '../helpers/config-env.js';
import { csrfIn } from '../helpers/dashboard-agent.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { childEnv } from '../helpers/service-ops.js';

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
    const headers = { 'x-forwarded-for': address };
    const form = await fetch(`${stack.url}/sign-in`, { headers });
    const cookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const r = await fetch(`${stack.url}/sign-in`, {
      method: 'POST',
      headers: { ...headers, cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: csrfIn(await form.text()), next: '/', token }).toString(),
      redirect: 'manual',
    });
    await r.arrayBuffer();
    return r.status;
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

describe('H4 tokens must have real entropy', () => {
  const env = (over: Record<string, string | undefined>) =>
    goodEnv({
      NOON_CONNECT_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
      NOON_CONNECT_API_TOKEN: randomBytes(24).toString('base64url'),
      ...over,
    });
  const problems = (over: Record<string, string | undefined>) => problemsOf(env(over));

  it('H4 24 identical characters, a repeated word, and admin token = API token are refused; random tokens pass', async () => {
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
    for (const random of [randomBytes(12).toString('hex'), randomBytes(32).toString('base64')])
      expect(problems({ NOON_CONNECT_ADMIN_TOKEN: random }), random.length.toString()).toEqual([]);
    const run = runCli(['serve'], childEnv(env({ NOON_CONNECT_ADMIN_TOKEN: 'z'.repeat(32) })));
    expect(await run.exit).toBe(3);
    expect(run.stderr()).toContain('NOON_CONNECT_ADMIN_TOKEN is too easy to guess');
    expect(run.stderr()).not.toContain('z'.repeat(32));
  });
});
