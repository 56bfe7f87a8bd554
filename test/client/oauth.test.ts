// The OAuth calls against the sandbox over real HTTP: consent URL (NC16), token/create (NC23–NC27, U1),
// token/exchange (NC29–NC33, U9b), malformed answers (U2), rate limits (NC38, U7) and unknown outcomes.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type NoonClient,
  NoonError,
  NoonExchangeError,
  NoonOAuth,
  NoonSession,
  parseCredentials,
  processExchangeBody,
} from '../../src/client/index.js';
import { MALFORMED_BODIES, type Sandbox } from '../../src/sandbox/index.js';
import { startSandbox } from '../helpers/sandbox.js';
import { caught, clientFor, oauthFor, recordingFetch } from './helpers.js';

let sb: Sandbox;
let client: NoonClient;
let oauth: NoonOAuth;
let sleeps: number[];
const extra: NoonClient[] = [];

const count = (endpoint: string) => sb.journal.count({ endpoint });

/** A seller project of its own per test, so no test fills another's 5-key budget (NC33). */
let SELLER = '';
let sellers = 0;
function freshProject(): string {
  sellers++;
  const code = `PRJ3${String(sellers).padStart(4, '0')}`;
  sb.addSeller({ email: `seller${sellers}@sellers.example`, projects: [{ project_code: code }] });
  return code;
}

beforeAll(async () => {
  sb = await startSandbox();
  const h = clientFor(sb);
  client = h.client;
  sleeps = h.sleeps;
  oauth = await oauthFor(sb, client);
});
beforeEach(() => {
  SELLER = freshProject();
});
afterEach(() => {
  sb.faults.clear();
  sb.setSwitches({ secondLoginEndsFirst: false });
  sleeps.length = 0;
});
afterAll(async () => {
  await Promise.all([client, ...extra].map((c) => c.close()));
  await sb.close();
});

describe('consent URL (NC16)', () => {
  it('NC16 NC15 the authorization URL opens the sandbox consent page for this client and state', async () => {
    const url = oauth.authorizationUrl({ state: 'state-123' });
    expect(url).toBe(`${sb.url}/?client_id=${sb.fixtures.client.clientId}&state=state-123`);
    const page = await fetch(url, { redirect: 'manual' });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(sb.fixtures.client.name);
    const other = await fetch(
      oauth.authorizationUrl({ state: 's', redirectUri: 'https://evil.example/cb' }),
      {
        redirect: 'manual',
      },
    );
    // An unregistered redirect_uri gets an error page, never a redirect.
    expect(other.status).toBeGreaterThanOrEqual(400);
    expect(other.headers.get('location')).toBeNull();
  });
});

describe('token/create (NC23–NC27, U1)', () => {
  it('NC23 NC14 token/create sends exactly grant_type, code, client_id, client_secret with the integrator session; NC24 "3600s" → 3600', async () => {
    const rec = recordingFetch();
    const h = clientFor(sb, { fetch: rec.fetch });
    extra.push(h.client);
    const o = await oauthFor(sb, h.client);
    const { code } = sb.authorize({ projectCode: SELLER });
    const t = await o.createToken(code);
    const call = rec.calls.find((c) => c.url.endsWith('/identity/oauth/v1/token/create'))!;
    expect(JSON.parse(call.body!)).toEqual({
      grant_type: 'authorization_code',
      code,
      client_id: sb.fixtures.client.clientId,
      client_secret: sb.fixtures.client.clientSecret,
    });
    expect(call.headers.cookie).toMatch(/_npsid=/);
    expect(call.headers['content-type']).toBe('application/json');
    expect(t.tokenType).toBe('TOKEN_TYPE_BEARER');
    expect(t.expiresIn).toBe(3600);
    expect(t.scopes).toEqual(['access:grant']);
    expect(t.projectCode).toBe(SELLER);
    expect(t.accessToken.split('.')).toHaveLength(3);
  });

  it('NC24 a numeric expires_in is accepted too', async () => {
    sb.addFault({ endpoint: 'token.create', action: { type: 'mutate', set: { expires_in: 1800 } } });
    const t = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    expect(t.expiresIn).toBe(1800);
  });

  it('NC26 U1 a used code is CODE_USED, sent once (no resend), and the access token it produced is revoked', async () => {
    const { code } = sb.authorize({ projectCode: SELLER });
    const first = await oauth.createToken(code);
    const before = count('token.create');
    const err = await caught(() => oauth.createToken(code));
    expect(err).toBeInstanceOf(NoonError);
    expect(err.code).toBe('CODE_USED');
    expect(err.status).toBe(400);
    expect(count('token.create')).toBe(before + 1);
    const revoked = await caught(() => oauth.exchangeToken(first.accessToken));
    expect(revoked.code).toBe('TOKEN_REVOKED');
  });

  it('NC26 a code older than 10 minutes is CODE_EXPIRED', async () => {
    const { code } = sb.authorize({ projectCode: SELLER });
    sb.clock.advance(10 * 60_000 + 1_000);
    expect((await caught(() => oauth.createToken(code))).code).toBe('CODE_EXPIRED');
  });

  it('U1 an unknown code is CODE_INVALID, sent once', async () => {
    const before = count('token.create');
    const err = await caught(() => oauth.createToken('no-such-code'));
    expect(err.code).toBe('CODE_INVALID');
    expect(count('token.create')).toBe(before + 1);
  });

  it('U1 NC27 a wrong client secret is INVALID_CLIENT, not resent, the secret never echoed, and the code not consumed', async () => {
    const wrongSecret = 'wrong-secret-0123456789abcdef';
    const bad = new NoonOAuth({
      session: oauth.session,
      clientId: sb.fixtures.client.clientId,
      clientSecret: wrongSecret,
    });
    const { code } = sb.authorize({ projectCode: SELLER });
    const before = count('token.create');
    const err = await caught(() => bad.createToken(code));
    expect(err.code).toBe('INVALID_CLIENT');
    expect(err.status).toBe(401);
    expect(count('token.create')).toBe(before + 1);
    for (const text of [err.message, String(err), err.stack, JSON.stringify(err)])
      expect(text).not.toContain(wrongSecret);
    // The session was not thrown away for it, and the code still works with the right secret.
    expect((await oauth.createToken(code)).projectCode).toBe(SELLER);
  });

  it("NC27 a client of another integrator's project is CLIENT_NOT_OWNED (403)", async () => {
    const other = await sb.addIntegrator({ project_code: 'PRJ10077' });
    const session = new NoonSession(client, parseCredentials(other.key!));
    const o = new NoonOAuth({
      session,
      clientId: sb.fixtures.client.clientId,
      clientSecret: sb.fixtures.client.clientSecret,
    });
    const err = await caught(() => o.createToken(sb.authorize({ projectCode: SELLER }).code));
    expect(err.code).toBe('CLIENT_NOT_OWNED');
    expect(err.status).toBe(403);
  });

  it('U5 NC30 token/create: a 401 gets one re-login and one resend; a second 401 fails and the code is not consumed', async () => {
    const { code } = sb.authorize({ projectCode: SELLER });
    const body = { code: 16, message: 'm', details: [{ reason: 'SESSION_EXPIRED' }] };
    sb.addFault({ endpoint: 'token.create', action: { type: 'status', status: 401, body }, times: 2 });
    const since = sb.journal.lastSeq;
    const err = await caught(() => oauth.createToken(code));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(sb.journal.entries({ sinceSeq: since }).map((e) => `${e.endpoint} ${e.status}`)).toEqual([
      'token.create 401',
      'login 200',
      'token.create 401',
    ]);
    expect((await oauth.createToken(code)).projectCode).toBe(SELLER);
  });
});

describe('token/exchange (NC29–NC33)', () => {
  it('NC29 NC31 NC41 the request step returns the raw body first; the process step yields a key that logs in as the seller', async () => {
    const { code, oauthRequestId } = sb.authorize({ projectCode: SELLER });
    const t = await oauth.createToken(code);
    const { response, rawBody } = await oauth.exchangeTokenRequest(t.accessToken);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const raw = JSON.parse(rawBody);
    expect(raw.result.private_key).toContain('PRIVATE KEY');
    const r = processExchangeBody(rawBody, response.status, {
      expectedProjectCode: t.projectCode,
      requestId: response.headers.get('x-request-id') ?? undefined,
    });
    expect(r.oauthRequestId).toBe(oauthRequestId);
    expect(r.projectCode).toBe(SELLER);
    expect(r.keyFile.private_key).toBe(raw.result.private_key);
    const ledger = sb.ledger.entries().find((e) => e.keyId === r.credentials.keyId)!;
    expect(ledger.delivered).toBe(true);
    expect(ledger.sellerProject).toBe(SELLER);
    const seller = new NoonSession(client, r.credentials);
    expect((await seller.whoami()).projectCode).toBe(SELLER);
    const items = await seller.request('GET', '/catalog/v1/items');
    expect((items.data as { project_code: string }).project_code).toBe(SELLER);
  });

  it('NC25 NC32 the access token is single-use: a second exchange is TOKEN_USED', async () => {
    const t = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    await oauth.exchangeToken(t.accessToken);
    const err = await caught(() => oauth.exchangeToken(t.accessToken));
    expect(err.code).toBe('TOKEN_USED');
    expect(err.status).toBe(400);
  });

  it('NC25 NC32 an access token older than one hour is TOKEN_EXPIRED', async () => {
    const t = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    sb.clock.advance(3600_000 + 1_000);
    expect((await caught(() => oauth.exchangeToken(t.accessToken))).code).toBe('TOKEN_EXPIRED');
  });

  it('NC32 two parallel exchanges of one token yield exactly one credential', async () => {
    const t = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    const before = sb.ledger.count({ via: 'exchange' });
    const settled = await Promise.allSettled([
      oauth.exchangeToken(t.accessToken),
      oauth.exchangeToken(t.accessToken),
    ]);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
    const failed = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    expect(failed.reason.code).toBe('TOKEN_USED');
    expect(sb.ledger.count({ via: 'exchange' })).toBe(before + 1);
  });

  it('NC32 a token exchanged by another integrator project is FORBIDDEN (403)', async () => {
    const t = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    const other = await sb.addIntegrator({ project_code: 'PRJ10088' });
    const o = new NoonOAuth({
      session: new NoonSession(client, parseCredentials(other.key!)),
      clientId: sb.fixtures.client.clientId,
      clientSecret: sb.fixtures.client.clientSecret,
    });
    const err = await caught(() => o.exchangeToken(t.accessToken));
    expect(err.code).toBe('FORBIDDEN');
    expect(err.status).toBe(403);
    expect(err.reason).toBe('TOKEN_NOT_OWNED');
  });

  it('NC30 U5 exchange when the integrator session ended: 401, one re-login, one resend, and success', async () => {
    const t = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    sb.setSwitches({ secondLoginEndsFirst: true });
    // Another login of the same key ends the client's session upstream.
    await new NoonSession(client, oauth.session.credentials).login();
    const since = sb.journal.lastSeq;
    const r = await oauth.exchangeToken(t.accessToken, { expectedProjectCode: t.projectCode });
    expect(r.projectCode).toBe(SELLER);
    expect(
      sb.journal
        .entries({ sinceSeq: since })
        .map((e) => `${e.endpoint} ${e.status} ${e.reason ?? ''}`.trim()),
    ).toEqual(['token.exchange 401 SESSION_REQUIRED', 'login 200', 'token.exchange 200']);
  });

  it('NC33 NC29 U9b the same seller connected again reuses its account; a sixth key is EXCHANGE_FAILED (status 9) with oauth_request_id', async () => {
    const project = SELLER;
    const channels = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const t = await oauth.createToken(sb.authorize({ projectCode: project }).code);
      channels.add(
        (await oauth.exchangeToken(t.accessToken, { expectedProjectCode: project })).keyFile
          .channel_identifier,
      );
    }
    expect(channels.size).toBe(1);
    const { code, oauthRequestId } = sb.authorize({ projectCode: project });
    const t = await oauth.createToken(code);
    const before = sb.ledger.count();
    const err = await caught(() => oauth.exchangeToken(t.accessToken));
    expect(err).toBeInstanceOf(NoonExchangeError);
    expect(err.code).toBe('EXCHANGE_FAILED');
    expect(err.status).toBe(200);
    expect(err.statusCode).toBe(9);
    expect(err.oauthRequestId).toBe(oauthRequestId);
    expect(typeof err.statusMessage).toBe('string');
    expect(sb.ledger.count()).toBe(before);
  });
});

describe('malformed and error answers from the sandbox (U2, NC37)', () => {
  it('U2 token/create answered with each malformed body → a typed error; the code is never marked used', async () => {
    const { code } = sb.authorize({ projectCode: SELLER });
    for (const body of MALFORMED_BODIES) {
      sb.addFault({ endpoint: 'token.create', action: { type: 'malformed', body } });
      const err = await caught(() => oauth.createToken(code));
      expect(err, body).toBeInstanceOf(NoonError);
      expect(err.code, body).toBe(body === 'oversize' ? 'RESPONSE_TOO_LARGE' : 'RESPONSE_INVALID');
    }
    // The faults answered instead of the endpoint: the code is still good.
    expect((await oauth.createToken(code)).projectCode).toBe(SELLER);
  });

  it('U2 token/exchange answered with each malformed body → a typed error, never a credential', async () => {
    const t = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    for (const body of MALFORMED_BODIES) {
      sb.addFault({ endpoint: 'token.exchange', action: { type: 'malformed', body } });
      const err = await caught(() => oauth.exchangeToken(t.accessToken));
      expect(err, body).toBeInstanceOf(NoonError);
      expect(err.code, body).toBe(body === 'oversize' ? 'RESPONSE_TOO_LARGE' : 'RESPONSE_INVALID');
    }
    expect((await oauth.exchangeToken(t.accessToken)).projectCode).toBe(SELLER);
  });

  it('U2 U9 an exchange whose result lost a field or changed project (mutate) is RESPONSE_INVALID / PROJECT_MISMATCH; the raw body is still returned first', async () => {
    const t1 = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'mutate', drop: ['result.key_id'] } });
    const { response, rawBody } = await oauth.exchangeTokenRequest(t1.accessToken);
    expect(JSON.parse(rawBody).result.private_key).toContain('PRIVATE KEY');
    const e1 = await caught(async () => processExchangeBody(rawBody, response.status));
    expect(e1.code).toBe('RESPONSE_INVALID');
    expect(e1.field).toBe('result.key_id');
    const t2 = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    sb.addFault({
      endpoint: 'token.exchange',
      action: { type: 'mutate', set: { project_code: 'PRJ20003' } },
    });
    const e2 = await caught(() =>
      oauth.exchangeToken(t2.accessToken, { expectedProjectCode: t2.projectCode }),
    );
    expect(e2.code).toBe('PROJECT_MISMATCH');
  });

  it('NC37 an error is decided by details[].reason, not by the message', async () => {
    const body = {
      code: 3,
      message: 'authorization code was already used (CODE_USED)',
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'CODE_EXPIRED' }],
    };
    sb.addFault({ endpoint: 'token.create', action: { type: 'status', status: 400, body } });
    const err = await caught(() => oauth.createToken('whatever'));
    expect(err.code).toBe('CODE_EXPIRED');
    sb.addFault({
      endpoint: 'token.exchange',
      action: { type: 'status', status: 502, body: '<html>bad gateway</html>' },
    });
    const up = await caught(() => oauth.exchangeToken('whatever'));
    expect(up.code).toBe('UPSTREAM');
    expect(up.requestId).toBe(sb.journal.entries({ endpoint: 'token.exchange' }).at(-1)!.requestId);
  });
});

describe('rate limits and unknown outcomes (NC38, U7)', () => {
  it('NC38 U7 429 with Retry-After: waits (injected sleep) and resends the same code, then succeeds', async () => {
    const { code } = sb.authorize({ projectCode: SELLER });
    sb.addFault({ endpoint: 'token.create', action: { type: 'rate-limit', retryAfter: 3 } });
    const since = sb.journal.lastSeq;
    const t = await oauth.createToken(code);
    expect(t.projectCode).toBe(SELLER);
    expect(sleeps).toEqual([3000]);
    expect(sb.journal.entries({ sinceSeq: since, endpoint: 'token.create' }).map((e) => e.status)).toEqual([
      429, 200,
    ]);
  });

  it('U7 503 with Retry-After is waited out too; tries are bounded, then RATE_LIMITED / UPSTREAM with retryAfter', async () => {
    const { code } = sb.authorize({ projectCode: SELLER });
    sb.addFault({
      endpoint: 'token.create',
      action: {
        type: 'status',
        status: 503,
        headers: { 'retry-after': '2' },
        body: { code: 14, details: [] },
      },
    });
    await oauth.createToken(code);
    expect(sleeps).toEqual([2000]);
    sleeps.length = 0;
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'rate-limit', retryAfter: 1 }, always: true });
    const before = count('token.exchange');
    const err = await caught(() => oauth.exchangeToken('some-token'));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfter).toBe(1);
    expect(sleeps).toEqual([1000, 1000]);
    expect(count('token.exchange')).toBe(before + 3);
  });

  it('U7 a Retry-After beyond the 30 s cap is not waited: RATE_LIMITED at once with the wait in retryAfter', async () => {
    sb.addFault({ endpoint: 'token.create', action: { type: 'rate-limit', retryAfter: 120 } });
    const before = count('token.create');
    const err = await caught(() => oauth.createToken('code'));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfter).toBe(120);
    expect(sleeps).toEqual([]);
    expect(count('token.create')).toBe(before + 1);
  });

  it('token/create and exchange are never resent on an unknown outcome: OUTCOME_UNKNOWN (reset, dropped answer)', async () => {
    const { code } = sb.authorize({ projectCode: SELLER });
    sb.addFault({ endpoint: 'token.create', action: { type: 'reset' } });
    let before = count('token.create');
    const e1 = await caught(() => oauth.createToken(code));
    expect(e1.code).toBe('OUTCOME_UNKNOWN');
    expect(count('token.create')).toBe(before + 1);
    // The code was in fact spent upstream: the caller learns it on its own resend.
    expect((await caught(() => oauth.createToken(code))).code).toBe('CODE_USED');

    const t = await oauth.createToken(sb.authorize({ projectCode: SELLER }).code);
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
    before = count('token.exchange');
    const undelivered = sb.ledger.count({ delivered: false });
    const e2 = await caught(() => oauth.exchangeToken(t.accessToken));
    expect(e2.code).toBe('OUTCOME_UNKNOWN');
    expect(count('token.exchange')).toBe(before + 1);
    expect(sb.ledger.count({ delivered: false })).toBe(undelivered + 1);
  });
});
