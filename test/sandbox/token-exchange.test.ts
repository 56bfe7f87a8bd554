// token/exchange over real HTTP: the exact answer (NC29), the session (NC30), a new service account whose key is
// returned once and kept nowhere (NC31, NC3), single use, expiry and ownership of the access token (NC32), account
// reuse and the 5-key limit (NC33, NC4), the ledger and its delivery flag (E7), the replay switch, the failed-token
// limiter (E9), no-store (NC28) and no leaked secrets.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ClientFixture, KeyFile, Sandbox } from '../../src/sandbox/index.js';
import { pemLine } from '../helpers/pem.js';
import { gw, startSandbox } from '../helpers/sandbox.js';
import { OAuthSteps, pemLines, reason, TOKEN_EXCHANGE, UUID, WHOAMI } from './oauth-steps.js';

let sb: Sandbox;
let steps: OAuthSteps;
let cookie: string;
let otherCookie: string;
let secondClient: ClientFixture;

beforeAll(async () => {
  sb = await startSandbox({ poolSize: 6 });
  steps = new OAuthSteps(sb, '32');
  cookie = await steps.login(sb.fixtures.integrator.key!);
  const other = await sb.addIntegrator({ project_code: 'PRJ10002', name: 'Other Integrations' });
  otherCookie = await steps.login(other.key!);
  secondClient = sb.addClient({ client_id: 'acme-second', project_code: 'PRJ10001' });
  steps.secrets.add(secondClient.clientSecret);
});

afterAll(async () => {
  await sb?.close();
});

beforeEach(() => {
  steps.resetFailureWindow();
});

const KEY_FILE_FIELDS = ['channel_identifier', 'issued_at', 'key_id', 'private_key', 'project_code', 'type'];

function fingerprint(privatePem: string): string {
  const der = createPublicKey(createPrivateKey(privatePem)).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64url');
}

/** Everything the sandbox keeps, as text: every record table and what the admin API shows. */
async function everythingKept(): Promise<string> {
  const w = sb.world;
  const tables = [
    w.projects,
    w.accounts,
    w.keys,
    w.clients,
    w.sellers,
    w.sessions,
    w.codes,
    w.tokens,
    w.requests,
    w.ledgerTable,
    w.meta,
  ];
  const parts: string[] = tables.map((t) => JSON.stringify([...(t.values() as IterableIterator<unknown>)]));
  for (const p of ['/_sandbox/accounts', '/_sandbox/ledger', '/_sandbox/requests', '/_sandbox/journal']) {
    parts.push((await gw(sb, p)).text);
  }
  return parts.join('\n');
}

describe('token/exchange', () => {
  it('NC29 NC31 NC3 the answer is exactly per contract: status 0 with a message, a UUID oauth_request_id, a PKCS#1 key file for a new account of the integrator with access to the seller', async () => {
    const project = steps.freshSellerProject();
    const { accessToken, oauthRequestId } = await steps.accessToken(cookie, { projectCode: project });
    const before = sb.clock.now();
    const r = await steps.exchange(cookie, accessToken);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(r.json).sort()).toEqual(['oauth_request_id', 'project_code', 'result', 'status']);
    expect(r.json.status.code).toBe(0);
    expect(typeof r.json.status.message).toBe('string');
    expect(r.json.oauth_request_id).toMatch(UUID);
    expect(r.json.oauth_request_id).toBe(oauthRequestId);
    expect(r.json.project_code).toBe(project);

    const file = r.json.result as KeyFile;
    expect(Object.keys(file).sort()).toEqual(KEY_FILE_FIELDS);
    expect(file.type).toBe('apijwt');
    expect(file.project_code).toBe(project);
    expect(file.key_id).toMatch(/^\S{8,}$/);
    expect(file.channel_identifier).toMatch(/^[a-z0-9-]+@p10001\.idp\.noon\.partners$/);
    expect(file.issued_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(Math.abs(Date.parse(file.issued_at) - before)).toBeLessThan(5000);

    // NC3: PKCS#1 PEM that node:crypto takes as an RSA-2048 key.
    expect(file.private_key.startsWith(`${pemLine('BEGIN')}\n`)).toBe(true);
    expect(file.private_key.trimEnd().endsWith(pemLine('END'))).toBe(true);
    const key = createPrivateKey(file.private_key);
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);

    // NC31: a new service account owned by the integrator's project that may act in the seller's project.
    const accounts = (await gw(sb, `/_sandbox/accounts?project=${project}`)).json.accounts;
    expect(accounts).toHaveLength(1);
    expect(accounts[0]).toMatchObject({
      channelIdentifier: file.channel_identifier,
      ownerProject: 'PRJ10001',
      projects: [project],
      origin: 'oauth',
    });
    expect(accounts[0].keys.map((k: { keyId: string }) => k.keyId)).toEqual([file.key_id]);
    const [entry] = sb.ledger.entries({ sellerProject: project });
    expect(entry).toMatchObject({
      keyId: file.key_id,
      via: 'exchange',
      ownerProject: 'PRJ10001',
      oauthRequestId,
      fingerprint: fingerprint(file.private_key),
    });
    expect(sb.world.requests.get(oauthRequestId)?.status).toBe('COMPLETED');

    // Logging in with the new key works in the seller's project (and only there).
    const sellerCookie = await steps.login(file, project);
    const who = await steps.call(WHOAMI, { cookie: sellerCookie });
    expect(who.status).toBe(200);
    expect(who.json).toMatchObject({
      key_id: file.key_id,
      project_code: project,
      channel_identifier: file.channel_identifier,
      user_code: entry!.userCode,
    });
    await expect(steps.login(file, 'PRJ10001')).rejects.toThrow(/403/);
  });

  it('NC31 the private key is returned once: no record, ledger, account list or journal of the sandbox holds it', async () => {
    const file = await steps.connect(cookie, { projectCode: steps.freshSellerProject() });
    const lines = pemLines(file.private_key);
    expect(lines.length).toBeGreaterThan(20);
    const kept = await everythingKept();
    expect(kept).toContain(file.key_id);
    expect(lines.filter((l) => kept.includes(l))).toEqual([]);
  });

  it('NC30 without the integrator session → 401, and the access token stays usable', async () => {
    const project = steps.freshSellerProject();
    const { accessToken } = await steps.accessToken(cookie, { projectCode: project });
    const none = await steps.exchange(undefined, accessToken);
    expect([none.status, reason(none)]).toEqual([401, 'SESSION_REQUIRED']);
    const unknown = await steps.exchange('_npsid=forged; _nprtnetid=forged', accessToken);
    expect([unknown.status, reason(unknown)]).toEqual([401, 'SESSION_REQUIRED']);
    expect(sb.ledger.count({ sellerProject: project })).toBe(0);
    const ok = await steps.exchange(cookie, accessToken);
    expect([ok.status, ok.json.status.code]).toEqual([200, 0]);
  });

  it('NC32 E7 a second serial use → 400 TOKEN_USED with no key; the first use returned the key once', async () => {
    const project = steps.freshSellerProject();
    const { accessToken } = await steps.accessToken(cookie, { projectCode: project });
    const first = await steps.exchange(cookie, accessToken);
    expect(first.json.result.private_key).toContain('BEGIN RSA PRIVATE KEY');
    const second = await steps.exchange(cookie, accessToken);
    expect([second.status, reason(second)]).toEqual([400, 'TOKEN_USED']);
    expect(second.text).not.toContain('PRIVATE KEY');
    expect(second.json.result).toBeUndefined();
    expect(sb.ledger.count({ sellerProject: project })).toBe(1);
  });

  it('NC32 E7 an expired access token → 400 TOKEN_EXPIRED, nothing issued', async () => {
    const project = steps.freshSellerProject();
    const { accessToken } = await steps.accessToken(cookie, { projectCode: project });
    sb.clock.advance(3600_000);
    const r = await steps.exchange(cookie, accessToken);
    expect([r.status, reason(r)]).toEqual([400, 'TOKEN_EXPIRED']);
    expect(sb.ledger.count({ sellerProject: project })).toBe(0);
  });

  it('NC32 a token created by another integrator project → 403, and it still works for its own project', async () => {
    const project = steps.freshSellerProject();
    const { accessToken } = await steps.accessToken(cookie, { projectCode: project });
    const foreign = await steps.exchange(otherCookie, accessToken);
    expect([foreign.status, reason(foreign)]).toEqual([403, 'TOKEN_NOT_OWNED']);
    expect(sb.ledger.count({ sellerProject: project })).toBe(0);
    expect(sb.ledger.count({ ownerProject: 'PRJ10002', via: 'exchange' })).toBe(0);
    const own = await steps.exchange(cookie, accessToken);
    expect([own.status, own.json.status.code]).toEqual([200, 0]);
  });

  it('E7 a token that is not one the sandbox signed → 400 TOKEN_INVALID (tampered, foreign key, alg none, not a JWT)', async () => {
    const { accessToken } = await steps.accessToken(cookie, { projectCode: steps.freshSellerProject() });
    const [h, p, s] = accessToken.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreignKey = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    for (const bad of [flipped, foreignKey, none, 'not-a-jwt']) {
      const r = await steps.exchange(cookie, bad);
      expect([r.status, reason(r)]).toEqual([400, 'TOKEN_INVALID']);
    }
    expect((await steps.exchange(cookie, accessToken)).json.status.code).toBe(0);
  });

  it('NC32 E7 two and twenty parallel exchanges of one token → exactly one credential', async () => {
    for (const n of [2, 20]) {
      const project = steps.freshSellerProject();
      const { accessToken } = await steps.accessToken(cookie, { projectCode: project });
      const all = await Promise.all(Array.from({ length: n }, () => steps.exchange(cookie, accessToken)));
      expect(all.filter((r) => r.status === 200)).toHaveLength(1);
      expect(all.filter((r) => r.status === 400 && reason(r) === 'TOKEN_USED')).toHaveLength(n - 1);
      expect(all.filter((r) => r.text.includes('PRIVATE KEY'))).toHaveLength(1);
      expect(sb.ledger.count({ sellerProject: project })).toBe(1);
    }
  });

  it('NC33 the same seller project through the same client reuses its service account and adds a key', async () => {
    const project = steps.freshSellerProject();
    const a = await steps.connect(cookie, { projectCode: project });
    const b = await steps.connect(cookie, { projectCode: project });
    expect(b.channel_identifier).toBe(a.channel_identifier);
    expect(b.key_id).not.toBe(a.key_id);
    expect(fingerprint(b.private_key)).not.toBe(fingerprint(a.private_key));
    const entries = sb.ledger.entries({ sellerProject: project });
    expect(entries.map((e) => e.keyId)).toEqual([a.key_id, b.key_id]);
    expect(new Set(entries.map((e) => e.userCode)).size).toBe(1);
    const accounts = (await gw(sb, `/_sandbox/accounts?project=${project}`)).json.accounts;
    expect(accounts).toHaveLength(1);
    expect(accounts[0].keys).toHaveLength(2);

    // Another client of the integrator connecting the same seller project gets an account of its own.
    const c = await steps.connect(cookie, { projectCode: project, clientId: secondClient.clientId });
    expect(c.channel_identifier).not.toBe(a.channel_identifier);
  });

  it('NC33 NC4 E7 with 5 active keys the exchange answers 200 with status.code 9 and no result; the token is spent', async () => {
    const project = steps.freshSellerProject();
    const files: KeyFile[] = [];
    for (let i = 0; i < 5; i++) files.push(await steps.connect(cookie, { projectCode: project }));
    expect(sb.ledger.count({ sellerProject: project })).toBe(5);

    const { accessToken, oauthRequestId } = await steps.accessToken(cookie, { projectCode: project });
    const sixth = await steps.exchange(cookie, accessToken);
    expect(sixth.status).toBe(200);
    expect(sixth.headers.get('cache-control')).toBe('no-store');
    expect(sixth.json.status.code).toBe(9);
    expect(typeof sixth.json.status.message).toBe('string');
    expect(sixth.json.result).toBeUndefined();
    expect(sixth.json.oauth_request_id).toBe(oauthRequestId);
    expect(sixth.json.project_code).toBe(project);
    expect(sb.ledger.count({ sellerProject: project })).toBe(5);
    expect(sb.world.requests.get(oauthRequestId)?.status).toBe('FAILED');
    const again = await steps.exchange(cookie, accessToken);
    expect([again.status, reason(again)]).toEqual([400, 'TOKEN_USED']);

    // Removing one key through the API User Service frees a slot for the next connection.
    const sellerSide = files[0]!;
    const removed = await steps.call('/identity/v1/api_users/credentials/remove', {
      cookie,
      body: { channel_identifier: sellerSide.channel_identifier, key_id: sellerSide.key_id },
    });
    expect(removed.status).toBe(200);
    const next = await steps.connect(cookie, { projectCode: project });
    expect(next.channel_identifier).toBe(sellerSide.channel_identifier);
    expect(sb.ledger.count({ sellerProject: project })).toBe(6);
  });

  it('E7 the ledger records every credential issued: delivered after a normal answer, not delivered when the answer is dropped', async () => {
    const project = steps.freshSellerProject();
    const delivered = await steps.connect(cookie, { projectCode: project });
    await expect
      .poll(() => sb.ledger.entries({ sellerProject: project }).map((e) => [e.keyId, e.delivered]))
      .toEqual([[delivered.key_id, true]]);

    const { accessToken } = await steps.accessToken(cookie, { projectCode: project });
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
    const before = sb.journal.lastSeq;
    await expect(steps.exchange(cookie, accessToken)).rejects.toThrow();
    const entries = sb.ledger.entries({ sellerProject: project });
    expect(entries).toHaveLength(2);
    expect(entries[1]).toMatchObject({ via: 'exchange', delivered: false });
    const [dropped] = sb.journal.entries({ endpoint: 'token.exchange', sinceSeq: before });
    expect(dropped).toMatchObject({ status: 0, fault: 'commit-then-drop' });

    // The upstream work happened: the token is spent, and a resend issues nothing more.
    const resend = await steps.exchange(cookie, accessToken);
    expect([resend.status, reason(resend)]).toEqual([400, 'TOKEN_USED']);
    expect(sb.ledger.count({ sellerProject: project })).toBe(2);
    expect(sb.ledger.count({ sellerProject: project, delivered: false })).toBe(1);
  });

  it('exchangeReplay switch: a second exchange replays the same body, issues nothing new, and a replay after a dropped answer is the delivery', async () => {
    sb.setSwitches({ exchangeReplay: true });
    try {
      const project = steps.freshSellerProject();
      const { accessToken } = await steps.accessToken(cookie, { projectCode: project });
      const first = await steps.exchange(cookie, accessToken);
      const replay = await steps.exchange(cookie, accessToken);
      expect(first.json.status.code).toBe(0);
      expect([replay.status, replay.text]).toEqual([200, first.text]);
      expect(replay.headers.get('cache-control')).toBe('no-store');
      expect(sb.ledger.count({ sellerProject: project })).toBe(1);

      const lost = await steps.accessToken(cookie, { projectCode: project });
      sb.addFault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
      await expect(steps.exchange(cookie, lost.accessToken)).rejects.toThrow();
      const entry = sb.ledger.entries({ sellerProject: project })[1]!;
      expect(entry.delivered).toBe(false);
      const recovered = await steps.exchange(cookie, lost.accessToken);
      expect(recovered.json.result.key_id).toBe(entry.keyId);
      await expect.poll(() => sb.ledger.entries({ sellerProject: project })[1]?.delivered).toBe(true);
      expect(sb.ledger.count({ sellerProject: project })).toBe(2);
    } finally {
      sb.setSwitches({ exchangeReplay: false });
    }
  });

  it('E9 a flood of invalid access tokens → 429 with Retry-After for that project only, until the clock moves on', async () => {
    // Made first: token/create shares the same per-project budget and would be refused during the flood.
    const { accessToken } = await steps.accessToken(cookie, { projectCode: steps.freshSellerProject() });
    const limit = sb.switches.failedCodeLimit!.limit;
    for (let i = 0; i < limit; i++) {
      const r = await steps.exchange(cookie, `bogus.${i}.token`);
      expect(reason(r)).toBe('TOKEN_INVALID');
    }
    const blocked = await steps.exchange(cookie, accessToken);
    expect([blocked.status, reason(blocked)]).toEqual([429, 'RATE_LIMITED']);
    const wait = Number(blocked.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(blocked.headers.get('x-ratelimit-retry-after')).toBe(String(wait));
    const otherProject = await steps.exchange(otherCookie, 'bogus.other.token');
    expect(reason(otherProject)).toBe('TOKEN_INVALID');
    sb.clock.advance(wait * 1000);
    expect((await steps.exchange(cookie, accessToken)).json.status.code).toBe(0);
  });

  it('NC28 Cache-Control: no-store on every token/exchange response, success or error', async () => {
    await steps.call(TOKEN_EXCHANGE, { cookie, raw: 'not json' });
    await steps.call(TOKEN_EXCHANGE, { cookie, body: {} });
    const seen = steps.responses.filter((r) => r.path === TOKEN_EXCHANGE);
    expect(new Set(seen.map((r) => r.status))).toEqual(new Set([200, 400, 401, 403, 429]));
    for (const r of seen) expect(r.cacheControl, `${r.status} ${r.text.slice(0, 80)}`).toBe('no-store');
  });

  it('no client secret, code, access token, cookie, login JWT or PEM text in any journal entry or error body', async () => {
    expect(steps.privateKeys.length).toBeGreaterThan(10);
    expect(steps.secrets.size).toBeGreaterThan(20);
    expect(await steps.leakedSecrets()).toEqual([]);
  });
});
