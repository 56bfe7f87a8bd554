// token/create over real HTTP: both credentials (NC14), the exact wire shape and the RS256 access token (NC22–NC24),
// lifetimes and single use (NC25, NC26), the check order where a failed check consumes nothing (NC27), no-store
// (NC28), code reuse and cross-client redemption (E4–E6), the failed-code limiter (E9), and no leaked secrets.

import { createPublicKey } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ClientFixture, Sandbox } from '../../src/sandbox/index.js';
import { startSandbox } from '../helpers/sandbox.js';
import { OAuthSteps, reason, TOKEN_CREATE } from './oauth-steps.js';

let sb: Sandbox;
let steps: OAuthSteps;
let cookie: string;
let otherCookie: string;
let sameProjectClient: ClientFixture;
let otherProjectClient: ClientFixture;

beforeAll(async () => {
  sb = await startSandbox();
  steps = new OAuthSteps(sb, '31');
  cookie = await steps.login(sb.fixtures.integrator.key!);
  const other = await sb.addIntegrator({ project_code: 'PRJ10002', name: 'Other Integrations' });
  otherCookie = await steps.login(other.key!);
  sameProjectClient = sb.addClient({ client_id: 'acme-second', project_code: 'PRJ10001' });
  otherProjectClient = sb.addClient({ client_id: 'other-connect', project_code: 'PRJ10002' });
  steps.secrets.add(sameProjectClient.clientSecret);
  steps.secrets.add(otherProjectClient.clientSecret);
});

afterAll(async () => {
  await sb?.close();
});

beforeEach(() => {
  steps.resetFailureWindow();
});

function requestStatus(oauthRequestId: string): string | undefined {
  return sb.world.requests.get(oauthRequestId)?.status;
}

describe('token/create', () => {
  it('NC14 E6 needs both the integrator session and the client credentials (either missing or wrong → 401)', async () => {
    const { code, oauthRequestId } = steps.code();
    const noSession = await steps.create(undefined, { code });
    expect([noSession.status, reason(noSession)]).toEqual([401, 'SESSION_REQUIRED']);
    const unknownSession = await steps.create('_npsid=not-a-session', { code });
    expect([unknownSession.status, reason(unknownSession)]).toEqual([401, 'SESSION_REQUIRED']);

    const wrongSecret = await steps.create(cookie, { code, client_secret: 'not-the-secret' });
    expect([wrongSecret.status, reason(wrongSecret)]).toEqual([401, 'INVALID_CLIENT']);
    const noSecret = await steps.create(cookie, { code, client_secret: undefined });
    expect([noSecret.status, reason(noSecret)]).toEqual([401, 'INVALID_CLIENT']);
    const noClientId = await steps.create(cookie, { code, client_id: undefined });
    expect([noClientId.status, reason(noClientId)]).toEqual([401, 'INVALID_CLIENT']);
    const unknownClient = await steps.create(cookie, { code, client_id: 'no-such-client' });
    expect([unknownClient.status, reason(unknownClient)]).toEqual([401, 'INVALID_CLIENT']);
    const secretOfAnotherClient = await steps.create(cookie, {
      code,
      client_secret: sameProjectClient.clientSecret,
    });
    expect([secretOfAnotherClient.status, reason(secretOfAnotherClient)]).toEqual([401, 'INVALID_CLIENT']);

    // None of those spent the code: the journal saw only refusals, and with both credentials it still works.
    expect(requestStatus(oauthRequestId)).toBe('AUTHORIZED');
    expect(sb.journal.entries({ endpoint: 'token.create', status: 200 })).toHaveLength(0);
    const both = await steps.create(cookie, { code });
    expect(both.status).toBe(200);
    expect(requestStatus(oauthRequestId)).toBe('TOKEN_ISSUED');
  });

  it('NC22 NC23 NC24 request and response exactly per contract: an RS256 JWT, TOKEN_TYPE_BEARER, "3600s", access:grant, the seller project', async () => {
    // The seller grants its second project, so project_code must be the granted one, not just the seller's first.
    const r = sb.authorize({ email: sb.fixtures.seller.email, projectCode: 'PRJ20002', state: 'st-123' });
    steps.secrets.add(r.code);
    const callback = new URL(r.location);
    expect(callback.searchParams.get('code')).toBe(r.code);
    expect(callback.searchParams.get('state')).toBe('st-123');

    const res = await steps.create(cookie, { code: r.code });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(res.json).sort()).toEqual([
      'access_token',
      'expires_in',
      'project_code',
      'scopes',
      'token_type',
    ]);
    expect(res.json.token_type).toBe('TOKEN_TYPE_BEARER');
    expect(res.json.expires_in).toBe('3600s');
    expect(res.json.scopes).toEqual(['access:grant']);
    expect(res.json.project_code).toBe('PRJ20002');

    const token = res.json.access_token as string;
    expect(decodeProtectedHeader(token).alg).toBe('RS256');
    const key = createPublicKey(sb.signingPublicKeyPem);
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['RS256'],
      issuer: sb.url,
      audience: sb.fixtures.client.clientId,
      currentDate: new Date(sb.clock.now()),
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(Math.abs(payload.iat! - sb.clock.now() / 1000)).toBeLessThan(5);
    expect(typeof payload.jti).toBe('string');
    expect(payload.sub).toBe('PRJ20002');

    // A token signed with any other key does not verify against the sandbox's key.
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.alloc(256, 1).toString('base64url')}`;
    await expect(jwtVerify(forged, key, { currentDate: new Date(sb.clock.now()) })).rejects.toThrow();
  });

  it('NC22 NC23 code missing → 400 CODE_INVALID; grant_type missing or wrong → 400; neither spends the code', async () => {
    const { code, oauthRequestId } = steps.code();
    const noCode = await steps.create(cookie, { code: undefined });
    expect([noCode.status, reason(noCode)]).toEqual([400, 'CODE_INVALID']);
    for (const grant_type of [
      undefined,
      'client_credentials',
      'AUTHORIZATION_CODE',
      'refresh_token',
      42,
      '',
    ]) {
      const r = await steps.create(cookie, { code, grant_type });
      expect([r.status, reason(r)], `grant_type ${String(grant_type)}`).toEqual([
        400,
        'UNSUPPORTED_GRANT_TYPE',
      ]);
    }
    expect(requestStatus(oauthRequestId)).toBe('AUTHORIZED');
    const ok = await steps.create(cookie, { code });
    expect(ok.status).toBe(200);
  });

  it('NC25 the access token is valid for 1 hour and single use: at 59:59 it works once, at 60:00 → TOKEN_EXPIRED', async () => {
    const a = await steps.accessToken(cookie, { projectCode: steps.freshSellerProject() });
    const b = await steps.accessToken(cookie, { projectCode: steps.freshSellerProject() });
    sb.clock.advance(3600_000 - 1000);
    const first = await steps.exchange(cookie, a.accessToken);
    expect([first.status, first.json?.status?.code]).toEqual([200, 0]);
    const again = await steps.exchange(cookie, a.accessToken);
    expect([again.status, reason(again)]).toEqual([400, 'TOKEN_USED']);
    sb.clock.advance(1000);
    const late = await steps.exchange(cookie, b.accessToken);
    expect([late.status, reason(late)]).toEqual([400, 'TOKEN_EXPIRED']);
    expect(sb.ledger.count({ sellerProject: first.json.project_code })).toBe(1);
  });

  it('NC26 a code lives 10 minutes: at 9:59 it works, at 10:00 → CODE_EXPIRED', async () => {
    const a = steps.code();
    const b = steps.code();
    sb.clock.advance(10 * 60_000 - 1000);
    expect((await steps.create(cookie, { code: a.code })).status).toBe(200);
    sb.clock.advance(1000);
    const late = await steps.create(cookie, { code: b.code });
    expect([late.status, reason(late)]).toEqual([400, 'CODE_EXPIRED']);
    expect(requestStatus(b.oauthRequestId)).toBe('AUTHORIZED');
  });

  it('NC26 E4 a code is single use: serial reuse → CODE_USED and revokes the access token it produced', async () => {
    const project = steps.freshSellerProject();
    const { code, oauthRequestId } = steps.code({ projectCode: project });
    const first = await steps.create(cookie, { code });
    expect(first.status).toBe(200);
    const reuse = await steps.create(cookie, { code });
    expect([reuse.status, reason(reuse)]).toEqual([400, 'CODE_USED']);
    expect(reuse.json.access_token).toBeUndefined();
    expect(requestStatus(oauthRequestId)).toBe('REVOKED');

    const exchange = await steps.exchange(cookie, first.json.access_token);
    expect(exchange.status).toBe(400);
    expect(reason(exchange)).toBe('TOKEN_REVOKED');
    expect(sb.ledger.count({ sellerProject: project })).toBe(0);
  });

  it('NC26 reusing a code after its token was exchanged still fails, and the credential already issued stays', async () => {
    const project = steps.freshSellerProject();
    const { code, oauthRequestId } = steps.code({ projectCode: project });
    const created = await steps.create(cookie, { code });
    const exchanged = await steps.exchange(cookie, created.json.access_token);
    expect(exchanged.json.status.code).toBe(0);
    const reuse = await steps.create(cookie, { code });
    expect([reuse.status, reason(reuse)]).toEqual([400, 'CODE_USED']);
    // Nothing live was left to revoke: the request keeps its outcome and the key stays active.
    expect(requestStatus(oauthRequestId)).toBe('COMPLETED');
    const [entry] = sb.ledger.entries({ sellerProject: project });
    expect(entry?.removedAt).toBeUndefined();
    expect(sb.world.keys.get(entry!.keyId)?.active).toBe(true);
  });

  it('E4 50 parallel redemptions of one code → exactly one success, and its access token is revoked', async () => {
    // The failed-code limiter would answer some of the 49 losers with 429; off here so each answer is exact.
    sb.setSwitches({ failedCodeLimit: null });
    try {
      const project = steps.freshSellerProject();
      const { code } = steps.code({ projectCode: project });
      const before = sb.journal.lastSeq;
      const all = await Promise.all(Array.from({ length: 50 }, () => steps.create(cookie, { code })));
      const wins = all.filter((r) => r.status === 200);
      expect(wins).toHaveLength(1);
      expect(all.filter((r) => r.status === 400 && reason(r) === 'CODE_USED')).toHaveLength(49);
      expect(sb.journal.entries({ endpoint: 'token.create', status: 200, sinceSeq: before })).toHaveLength(1);

      const exchange = await steps.exchange(cookie, wins[0]!.json.access_token);
      expect([exchange.status, reason(exchange)]).toEqual([400, 'TOKEN_REVOKED']);
      expect(sb.ledger.count({ sellerProject: project })).toBe(0);
    } finally {
      steps.resetFailureWindow();
    }
  });

  it('NC27 checks run in order: session, then client, then ownership, then grant_type, then the code', async () => {
    const bad = { code: 'no-such-code', grant_type: 'password', client_secret: 'wrong' };
    const s1 = await steps.create(undefined, { ...bad, client_id: 'no-such-client' });
    expect([s1.status, reason(s1)]).toEqual([401, 'SESSION_REQUIRED']);
    const s2 = await steps.create(cookie, { ...bad });
    expect([s2.status, reason(s2)]).toEqual([401, 'INVALID_CLIENT']);
    const s3 = await steps.create(
      cookie,
      { code: 'no-such-code', grant_type: 'password' },
      otherProjectClient,
    );
    expect([s3.status, reason(s3)]).toEqual([403, 'CLIENT_NOT_OWNED']);
    const s4 = await steps.create(cookie, { code: 'no-such-code', grant_type: 'password' });
    expect([s4.status, reason(s4)]).toEqual([400, 'UNSUPPORTED_GRANT_TYPE']);
    const s5 = await steps.create(cookie, { code: 'no-such-code' });
    expect([s5.status, reason(s5)]).toEqual([400, 'CODE_INVALID']);
    const s6 = await steps.create(cookie, { code: 42 });
    expect([s6.status, reason(s6)]).toEqual([400, 'CODE_INVALID']);
  });

  it('NC27 a failed check consumes nothing: after each refusal the same code still works', async () => {
    const { code, oauthRequestId } = steps.code();
    const refusals: [() => ReturnType<OAuthSteps['create']>, number, string][] = [
      [() => steps.create(cookie, { code, client_secret: 'wrong' }), 401, 'INVALID_CLIENT'],
      [() => steps.create(undefined, { code, client_secret: 'wrong' }), 401, 'SESSION_REQUIRED'],
      [() => steps.create(cookie, { code }, otherProjectClient), 403, 'CLIENT_NOT_OWNED'],
      [() => steps.create(cookie, { code, grant_type: 'implicit' }), 400, 'UNSUPPORTED_GRANT_TYPE'],
      [() => steps.create(cookie, { code }, sameProjectClient), 400, 'CODE_INVALID'],
      [() => steps.create(otherCookie, { code }, otherProjectClient), 400, 'CODE_INVALID'],
    ];
    for (const [send, status, why] of refusals) {
      const r = await send();
      expect([r.status, reason(r)]).toEqual([status, why]);
    }
    expect(requestStatus(oauthRequestId)).toBe('AUTHORIZED');
    const ok = await steps.create(cookie, { code });
    expect(ok.status).toBe(200);
  });

  it('NC27 each code failure has its reason: CODE_INVALID, CODE_EXPIRED, CODE_USED, and a code of another client', async () => {
    const invalid = await steps.create(cookie, { code: 'x'.repeat(43) });
    expect([invalid.status, reason(invalid)]).toEqual([400, 'CODE_INVALID']);

    const expiring = steps.code();
    sb.clock.advance(10 * 60_000);
    const expired = await steps.create(cookie, { code: expiring.code });
    expect([expired.status, reason(expired)]).toEqual([400, 'CODE_EXPIRED']);

    const once = steps.code();
    expect((await steps.create(cookie, { code: once.code })).status).toBe(200);
    const used = await steps.create(cookie, { code: once.code });
    expect([used.status, reason(used)]).toEqual([400, 'CODE_USED']);

    const forSecond = steps.code({ clientId: sameProjectClient.clientId });
    const wrongClient = await steps.create(cookie, { code: forSecond.code });
    expect([wrongClient.status, reason(wrongClient)]).toEqual([400, 'CODE_INVALID']);
    expect((await steps.create(cookie, { code: forSecond.code }, sameProjectClient)).status).toBe(200);
  });

  it('E5 a code for client A is refused to client B and to another project’s session, and still works for A', async () => {
    const { code, oauthRequestId } = steps.code();
    const byB = await steps.create(cookie, { code }, sameProjectClient);
    expect([byB.status, reason(byB)]).toEqual([400, 'CODE_INVALID']);
    const otherSessionClientA = await steps.create(otherCookie, { code });
    expect([otherSessionClientA.status, reason(otherSessionClientA)]).toEqual([403, 'CLIENT_NOT_OWNED']);
    const otherSessionOwnClient = await steps.create(otherCookie, { code }, otherProjectClient);
    expect([otherSessionOwnClient.status, reason(otherSessionOwnClient)]).toEqual([400, 'CODE_INVALID']);
    expect(requestStatus(oauthRequestId)).toBe('AUTHORIZED');
    const byA = await steps.create(cookie, { code });
    expect(byA.status).toBe(200);

    // And the other way round: client B's code is not client A's.
    const forB = steps.code({ clientId: sameProjectClient.clientId });
    const byAForB = await steps.create(cookie, { code: forB.code });
    expect([byAForB.status, reason(byAForB)]).toEqual([400, 'CODE_INVALID']);
  });

  it('E9 a flood of invalid codes → 429 with Retry-After and X-Ratelimit-Retry-After; another project is unaffected; the window ends with the clock', async () => {
    const limit = sb.switches.failedCodeLimit!.limit;
    for (let i = 0; i < limit; i++) {
      const r = await steps.create(cookie, { code: `bogus-${i}` });
      expect([r.status, reason(r)]).toEqual([400, 'CODE_INVALID']);
    }
    const blocked = await steps.create(cookie, { code: 'bogus-more' });
    expect([blocked.status, reason(blocked)]).toEqual([429, 'RATE_LIMITED']);
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(blocked.headers.get('x-ratelimit-retry-after')).toBe(String(retryAfter));

    // A valid code is refused too while the window lasts, and is not spent by the refusal.
    const { code, oauthRequestId } = steps.code();
    const validButBlocked = await steps.create(cookie, { code });
    expect(validButBlocked.status).toBe(429);
    expect(requestStatus(oauthRequestId)).toBe('AUTHORIZED');

    // The limit is per project.
    const other = steps.code({ clientId: otherProjectClient.clientId });
    expect((await steps.create(otherCookie, { code: other.code }, otherProjectClient)).status).toBe(200);

    sb.clock.advance(retryAfter * 1000);
    const after = await steps.create(cookie, { code });
    expect(after.status).toBe(200);
  });

  it('NC27 an expired integrator session → 401 SESSION_EXPIRED before the client is looked at', async () => {
    const { code } = steps.code();
    sb.clock.advance(30 * 24 * 3600_000);
    const r = await steps.create(cookie, { code, client_secret: 'wrong' });
    expect([r.status, reason(r)]).toEqual([401, 'SESSION_EXPIRED']);
    cookie = await steps.login(sb.fixtures.integrator.key!);
    otherCookie = await steps.login(sb.fixtures.integrators[1]!.key!);
  });

  it('NC28 E6 Cache-Control: no-store on every token/create response, success or error', async () => {
    const { code } = steps.code();
    await steps.create(undefined, { code });
    await steps.create(cookie, { code, client_secret: 'wrong' });
    await steps.create(cookie, { code }, otherProjectClient);
    await steps.call(TOKEN_CREATE, { cookie, raw: '{"grant_type":' });
    await steps.create(cookie, { code });
    await steps.create(cookie, { code });
    const seen = steps.responses.filter((r) => r.path === TOKEN_CREATE);
    expect(new Set(seen.map((r) => r.status))).toEqual(new Set([200, 400, 401, 403, 429]));
    for (const r of seen) expect(r.cacheControl, `${r.status} ${r.text.slice(0, 80)}`).toBe('no-store');
  });

  it('no client secret, code, access token, cookie or login JWT in any journal entry or error body', async () => {
    expect(steps.secrets.size).toBeGreaterThan(20);
    expect(sb.journal.entries({ endpoint: 'token.create' }).length).toBeGreaterThan(50);
    expect(await steps.leakedSecrets()).toEqual([]);
  });
});
