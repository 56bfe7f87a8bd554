// How the connector handles Noon's faults, end to end over real HTTP with the sandbox's fault injection: refused
// codes and clients, lost answers (resent once, after the first request ended), Retry-After, orphaned keys and
// their repair, exchange answers that fail validation or report a failed workflow, stale access tokens, and the
// production-mode URL and TLS checks. Every case ends with the secret search over logs, pages, events and errors.

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NoonApiUsers,
  NoonClient,
  NoonError,
  NoonOAuth,
  NoonSession,
  NoonTypeError,
  parseCredentials,
} from '../../src/client/index.js';
import { ConnectError, type ConnectorOptions, createConnector } from '../../src/connect/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { type Stack, startStack } from '../helpers/harness.js';
import { startSandbox, UA } from '../helpers/sandbox.js';
import { connectThrough, freshSeller } from '../helpers/seller-flow.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { leakReport, leaks, PEM_MARKER, type Secret } from '../helpers/wire.js';

const MIN = 60_000;

let sb: Sandbox;
let stack: Stack;
const extraStacks: Stack[] = [];

beforeAll(async () => {
  sb = await startSandbox();
  stack = await startStack({ wire: 'record', clockSleeps: true, stepHooks: true, sandbox: sb });
});
afterAll(async () => {
  for (const s of extraStacks) await s.close();
  await stack?.close();
  await sb?.close();
});

function hex(n = 8): string {
  return randomBytes(n).toString('hex');
}

function since(seq: number, endpoint: string) {
  return sb.journal.entries({ endpoint, sinceSeq: seq });
}

/** Connector log lines (the client's own lines have an `event` field instead of `msg`). */
function connectorLogs(s: Stack, attemptId?: string) {
  return (s.logs as Record<string, unknown>[]).filter(
    (l) => typeof l.msg === 'string' && (attemptId === undefined || l.attemptId === attemptId),
  );
}

async function expectNoLeaks(s: Stack, extra: { label: string; text: string }[] = []): Promise<void> {
  expect((await s.secrets()).length).toBeGreaterThan(3);
  expect(await leakReport(s, extra)).toEqual([]);
}

/**
 * The ledger balance for a seller project: every key Noon holds active is either stored (active or retiring) or
 * accounted for by an attempt that keeps it sealed (NEEDS_ATTENTION) or flags it (ORPHAN_SUSPECTED,
 * NEEDS_RECONNECT).
 */
async function balance(s: Stack, project: string) {
  const upstream = sb.ledger.entries({ sellerProject: project }).filter((e) => e.removedAt === undefined);
  const stored = (
    await s.store.listCredentials({ sellerProject: project, states: ['active', 'retiring'] })
  ).map((c) => c.keyId);
  const attempts = (await s.store.listAttempts({ limit: 10_000 })).filter((a) => a.sellerProject === project);
  const flagged = attempts.filter((a) => a.status === 'ORPHAN_SUSPECTED' || a.status === 'NEEDS_RECONNECT');
  const kept = attempts.filter((a) => a.status === 'NEEDS_ATTENTION');
  return {
    upstream: upstream.map((e) => e.keyId).sort(),
    stored: [...stored].sort(),
    flagged: flagged.length,
    kept: kept.length,
  };
}

async function expectBalanced(s: Stack, project: string): Promise<void> {
  const b = await balance(s, project);
  const unstored = b.upstream.filter((k) => !b.stored.includes(k));
  expect(b.stored.every((k) => b.upstream.includes(k))).toBe(true);
  expect(unstored.length).toBe(b.flagged + b.kept);
}

describe('U1 token/create refusals', () => {
  it('U1 a code Noon never issued (valid state, bogus code) → CODE_INVALID, FAILED, no resend, nothing created', async () => {
    const seq = sb.journal.lastSeq;
    const ledgerBefore = sb.ledger.count();
    const r = await connectThrough(stack, { tenant: 't-u1-code', code: `never-issued-${hex(16)}` });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('FAILED');
    expect(a.errorCode).toBe('CODE_INVALID');
    expect(a.accessTokenSealed).toBeNull();
    const creates = since(seq, 'token.create');
    expect(creates).toHaveLength(1);
    expect(creates[0]!.status).toBe(400);
    expect(creates[0]!.reason).toBe('CODE_INVALID');
    expect(since(seq, 'token.exchange')).toHaveLength(0);
    expect(sb.ledger.count()).toBe(ledgerBefore);
    expect(r.callback.status).toBe(400);
    expect(r.callback.text).toContain('Start the connection again');
    expect(stack.events.some((e) => e.type === 'failed' && e.data.attempt_id === a.id)).toBe(true);
    await expectNoLeaks(stack);
  });

  it('U1 a wrong client secret → INVALID_CLIENT, FAILED after at most one harmless resend, operator alert, secret never echoed', async () => {
    const wrong = await startStack({
      wire: 'record',
      clockSleeps: true,
      stepHooks: true,
      sandbox: sb,
      sendClientSecret: `wrong-secret-${hex(20)}`,
    });
    extraStacks.push(wrong);
    const project = freshSeller(sb, 'U1C').projectCode;
    const seq = sb.journal.lastSeq;
    const r = await connectThrough(wrong, { tenant: 't-u1-client', projectCode: project });
    const a = (await wrong.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('FAILED');
    expect(a.errorCode).toBe('INVALID_CLIENT');
    const creates = since(seq, 'token.create');
    expect(creates.length).toBeGreaterThanOrEqual(1);
    expect(creates.length).toBeLessThanOrEqual(2);
    for (const c of creates) {
      expect(c.status).toBe(401);
      expect(c.reason).toBe('INVALID_CLIENT');
    }
    // Harmless: a refused client consumes nothing upstream (NC27), so the code is still unused.
    const code = sb.world.codes.get(createHash('sha256').update(r.code!).digest('hex'));
    expect(code).toBeDefined();
    expect(code!.usedAt).toBeUndefined();
    expect(since(seq, 'token.exchange')).toHaveLength(0);
    // The operator alert: a `failed` event naming INVALID_CLIENT (hook and outbox) and an error-level log line.
    expect(
      wrong.events.filter(
        (e) => e.type === 'failed' && e.data.attempt_id === a.id && e.data.error_code === 'INVALID_CLIENT',
      ),
    ).toHaveLength(1);
    const outbox = (await wrong.store.listEvents({ limit: 100 })).filter((e) => e.attemptId === a.id);
    expect(outbox.map((e) => JSON.parse(e.payload).error_code)).toContain('INVALID_CLIENT');
    expect(connectorLogs(wrong, a.id).some((l) => l.level === 'error' && l.code === 'INVALID_CLIENT')).toBe(
      true,
    );
    // The seller is not asked to retry what only the operator can fix.
    expect(r.callback.status).toBe(502);
    expect(r.callback.text).toContain('Our team has been alerted');
    // Neither secret comes back from Noon's refusal, nor appears in the connector's pages, logs and events.
    for (const rec of wrong.wire.to('/token/create')) {
      await rec.done;
      expect(rec.responseBody ?? '').not.toContain(wrong.sentClientSecret);
    }
    await expectNoLeaks(wrong);
  });
});

describe('U6 token/create answer lost', () => {
  it('U6 token/create processed but its answer dropped → one resend after the first ended → CODE_USED → FAILED with a reconnect prompt', async () => {
    const project = freshSeller(sb, 'U6').projectCode;
    const seq = sb.journal.lastSeq;
    sb.addFault({ endpoint: 'token.create', action: { type: 'commit-then-drop' } });
    const r = await connectThrough(stack, { tenant: 't-u6', projectCode: project });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('FAILED');
    expect(a.errorCode).toBe('CODE_USED');
    expect(a.accessTokenSealed).toBeNull();
    const creates = since(seq, 'token.create');
    expect(creates).toHaveLength(2);
    expect(creates[0]!.fault).toBe('commit-then-drop');
    expect(creates[0]!.status).toBe(0);
    expect(creates[1]!.status).toBe(400);
    expect(creates[1]!.reason).toBe('CODE_USED');
    // Never in parallel: the resend left only after the first request had ended, with the same code.
    const sends = stack.wire.to('/token/create').slice(-2);
    expect(sends[0]!.failed).toBe(true);
    expect(sends[1]!.startedAt).toBeGreaterThanOrEqual(sends[0]!.endedAt!);
    expect(JSON.parse(sends[1]!.requestBody!).code).toBe(r.code);
    expect(JSON.parse(sends[0]!.requestBody!).code).toBe(r.code);
    expect(since(seq, 'token.exchange')).toHaveLength(0);
    expect(sb.ledger.count({ sellerProject: project })).toBe(0);
    expect(r.callback.status).toBe(400);
    expect(r.callback.text).toContain('Start the connection again');
    await expectNoLeaks(stack);
  });
});

describe('U7 Retry-After', () => {
  it('U7 429 with Retry-After on token/create → waits (on the clock), resends the same code, then connects', async () => {
    const project = freshSeller(sb, 'U7A').projectCode;
    const seq = sb.journal.lastSeq;
    const waits = stack.waits.length;
    sb.addFault({ endpoint: 'token.create', action: { type: 'rate-limit', retryAfter: 2 }, times: 1 });
    const r = await connectThrough(stack, { tenant: 't-u7-create', projectCode: project });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('CONNECTED');
    expect(since(seq, 'token.create').map((e) => e.status)).toEqual([429, 200]);
    expect(stack.waits.slice(waits)).toContain(2000);
    const sends = stack.wire.to('/token/create').slice(-2);
    expect(JSON.parse(sends[0]!.requestBody!).code).toBe(r.code);
    expect(JSON.parse(sends[1]!.requestBody!).code).toBe(r.code);
    expect(sb.ledger.count({ sellerProject: project })).toBe(1);
    expect(r.done?.text).toContain('is connected');
    await expectNoLeaks(stack);
  });

  it('U7 503 with Retry-After on token/exchange → waits, resends the same access token, then connects with one key', async () => {
    const project = freshSeller(sb, 'U7B').projectCode;
    const seq = sb.journal.lastSeq;
    const waits = stack.waits.length;
    sb.addFault({
      endpoint: 'token.exchange',
      action: {
        type: 'status',
        status: 503,
        headers: { 'retry-after': '1' },
        body: { code: 14, message: 'busy', details: [] },
      },
      times: 1,
    });
    const r = await connectThrough(stack, { tenant: 't-u7-exchange', projectCode: project });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('CONNECTED');
    expect(since(seq, 'token.exchange').map((e) => e.status)).toEqual([503, 200]);
    expect(stack.waits.slice(waits)).toContain(1000);
    const sends = stack.wire.to('/token/exchange').slice(-2);
    expect(JSON.parse(sends[0]!.requestBody!).access_token).toBe(
      JSON.parse(sends[1]!.requestBody!).access_token,
    );
    expect(sb.ledger.count({ sellerProject: project })).toBe(1);
    await expectBalanced(stack, project);
    await expectNoLeaks(stack);
  });

  it('U7 a Retry-After beyond the cap is not waited for: FAILED at once, one token/create, the code unspent', async () => {
    const project = freshSeller(sb, 'U7C').projectCode;
    const seq = sb.journal.lastSeq;
    const waits = stack.waits.length;
    sb.addFault({ endpoint: 'token.create', action: { type: 'rate-limit', retryAfter: 3600 }, times: 1 });
    const r = await connectThrough(stack, { tenant: 't-u7-cap', projectCode: project });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('FAILED');
    expect(a.errorCode).toBe('RATE_LIMITED');
    expect(since(seq, 'token.create').map((e) => e.status)).toEqual([429]);
    expect(stack.waits.slice(waits).filter((w) => w >= 1000)).toEqual([]);
    expect(sb.world.codes.get(createHash('sha256').update(r.code!).digest('hex'))!.usedAt).toBeUndefined();
    await expectNoLeaks(stack);
  });

  it('U7 tries are bounded: a 429 that never ends → three exchange sends, then FAILED; the access token is unspent', async () => {
    const project = freshSeller(sb, 'U7D').projectCode;
    const seq = sb.journal.lastSeq;
    const id = sb.addFault({
      endpoint: 'token.exchange',
      action: { type: 'rate-limit', retryAfter: 1 },
      always: true,
    });
    try {
      const r = await connectThrough(stack, { tenant: 't-u7-bounded', projectCode: project });
      const a = (await stack.connector.getAttempt(r.attemptId!))!;
      expect(a.status).toBe('FAILED');
      expect(a.errorCode).toBe('RATE_LIMITED');
      expect(since(seq, 'token.exchange').map((e) => e.status)).toEqual([429, 429, 429]);
      expect(sb.ledger.count({ sellerProject: project })).toBe(0);
      const spent = [...sb.world.tokens.values()].filter((t) => t.sellerProject === project);
      expect(spent).toHaveLength(1);
      expect(spent[0]!.usedAt).toBeUndefined();
    } finally {
      sb.faults.remove(id);
    }
    await expectNoLeaks(stack);
  });
});

describe('U8 exchange answer lost: orphan suspected', () => {
  it('U8 exchange processed, answer dropped, service account known → one resend, TOKEN_USED → ORPHAN_SUSPECTED, alert, orphan removed upstream, fresh key → REPAIRED and usable', async () => {
    const project = freshSeller(sb, 'U8K').projectCode;
    // A first tenant connects the seller, so the service account's channel_identifier is stored.
    const first = await connectThrough(stack, { tenant: 't-u8-known-a', projectCode: project });
    expect((await stack.connector.getAttempt(first.attemptId!))!.status).toBe('CONNECTED');
    const [heldA] = await stack.store.listCredentials({ sellerProject: project, states: ['active'] });
    expect(heldA).toBeDefined();

    const seq = sb.journal.lastSeq;
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
    const r = await connectThrough(stack, { tenant: 't-u8-known-b', projectCode: project });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('REPAIRED');
    expect(a.exchangeSends).toBe(2);

    const exchanges = since(seq, 'token.exchange');
    expect(exchanges).toHaveLength(2);
    expect(exchanges[0]!.fault).toBe('commit-then-drop');
    expect(exchanges[1]!.reason).toBe('TOKEN_USED');
    const sends = stack.wire.to('/token/exchange').slice(-2);
    expect(sends[0]!.failed).toBe(true);
    expect(sends[1]!.startedAt).toBeGreaterThanOrEqual(sends[0]!.endedAt!);
    expect(JSON.parse(sends[0]!.requestBody!).access_token).toBe(
      JSON.parse(sends[1]!.requestBody!).access_token,
    );

    // The alert, and never a plain `connected` for this attempt.
    const mine = stack.events.filter((e) => e.data.attempt_id === a.id).map((e) => e.type);
    expect(mine).toContain('orphan_suspected');
    expect(mine).toContain('repaired');
    expect(mine).not.toContain('connected');
    expect(
      connectorLogs(stack, a.id).some((l) => l.level === 'error' && l.msg === 'orphan key suspected'),
    ).toBe(true);

    // Upstream: the orphan (the dropped exchange's key) is removed, the fresh key is the one stored.
    const ledger = sb.ledger.entries({ sellerProject: project });
    const orphan = ledger.filter((e) => e.via === 'exchange' && e.keyId !== heldA!.keyId);
    expect(orphan).toHaveLength(1);
    expect(orphan[0]!.removedAt).toBeDefined();
    const fresh = ledger.filter((e) => e.via === 'api_users.create');
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.removedAt).toBeUndefined();
    const account = [...sb.world.accounts.values()].find(
      (x) => x.channelIdentifier === heldA!.channelIdentifier,
    )!;
    expect(
      sb.world
        .activeKeys(account.userCode)
        .map((k) => k.keyId)
        .sort(),
    ).toEqual([heldA!.keyId, fresh[0]!.keyId].sort());
    const conn = (await stack.connector.listConnections({ tenant: 't-u8-known-b' }))[0]!;
    expect(conn.status).toBe('active');
    expect(conn.keyId).toBe(fresh[0]!.keyId);
    const session = await stack.connector.sellerSession('t-u8-known-b', project);
    expect((await session.request('GET', '/catalog/v1/items')).status).toBe(200);
    expect((await stack.connector.healthCheck(conn.id)).ok).toBe(true);
    expect(r.callback.status).toBe(200);
    expect(r.callback.text).toContain('Your noon project is connected');
    await expectBalanced(stack, project);
    await expectNoLeaks(stack);
  });

  it('U8 exchange processed, answer dropped, service account unknown → ORPHAN_SUSPECTED, alert, NEEDS_RECONNECT, never CONNECTED; the orphan is flagged in the balance', async () => {
    const project = freshSeller(sb, 'U8U').projectCode;
    const seq = sb.journal.lastSeq;
    sb.addFault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
    const r = await connectThrough(stack, { tenant: 't-u8-unknown', projectCode: project });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('NEEDS_RECONNECT');
    expect(a.exchangeSends).toBe(2);
    expect(a.accessTokenSealed).toBeNull();
    expect(since(seq, 'token.exchange')).toHaveLength(2);
    const mine = stack.events.filter((e) => e.data.attempt_id === a.id);
    expect(mine.map((e) => e.type)).toContain('orphan_suspected');
    expect(mine.some((e) => e.type === 'failed' && e.data.error_code === 'NEEDS_RECONNECT')).toBe(true);
    expect(mine.map((e) => e.type)).not.toContain('connected');
    expect(await stack.connector.listConnections({ tenant: 't-u8-unknown' })).toEqual([]);
    // Nothing was removed or created through the API User Service: the account is not known to us.
    expect(since(seq, 'api_users.remove')).toHaveLength(0);
    expect(since(seq, 'api_users.create')).toHaveLength(0);
    const b = await balance(stack, project);
    expect(b.upstream).toHaveLength(1);
    expect(b.stored).toEqual([]);
    expect(b.flagged).toBe(1);
    await expectBalanced(stack, project);
    // The seller is told to connect again, not to wait for something that will not happen.
    expect(r.callback.status).toBe(400);
    expect(r.callback.text).toContain('Start the connection again');
    expect(r.callback.text).not.toMatch(/is connected/);
    await expectNoLeaks(stack);
  });
});

describe('U9 exchange 200 that fails validation', () => {
  const truncatedRsa = (() => {
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    return pem.slice(0, Math.floor(pem.length / 2));
  })();
  const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();

  const cases: {
    name: string;
    action: (project: string) => { set?: Record<string, unknown>; drop?: string[] };
  }[] = [
    { name: 'a truncated PEM', action: () => ({ set: { 'result.private_key': truncatedRsa } }) },
    { name: 'a non-RSA (EC) PEM', action: () => ({ set: { 'result.private_key': ecPem } }) },
    { name: 'a missing result.key_id', action: () => ({ drop: ['result.key_id'] }) },
    {
      name: 'a missing oauth_request_id and channel_identifier',
      action: () => ({ drop: ['oauth_request_id', 'result.channel_identifier'] }),
    },
    {
      name: "a project that differs from token/create's",
      action: () => ({ set: { project_code: 'PRJ99999', 'result.project_code': 'PRJ99999' } }),
    },
  ];

  for (const c of cases) {
    it(`U9 exchange 200 with ${c.name} → raw body kept encrypted (opens to the exact body), NEEDS_ATTENTION, never CONNECTED`, async () => {
      const project = freshSeller(sb, 'U9').projectCode;
      const tenant = `t-u9-${hex(3)}`;
      sb.addFault({ endpoint: 'token.exchange', action: { type: 'mutate', ...c.action(project) } });
      const r = await connectThrough(stack, { tenant, projectCode: project });
      const a = (await stack.connector.getAttempt(r.attemptId!))!;
      expect(a.status).toBe('NEEDS_ATTENTION');
      expect(a.rawExchangeSealed).toBeTruthy();
      const rec = stack.wire.to('/token/exchange').at(-1)!;
      await rec.done;
      expect(rec.status).toBe(200);
      const opened = await stack.vault.open(a.rawExchangeSealed!, {
        tenant,
        project,
        credentialId: a.id,
        purpose: 'exchange-body',
      });
      expect(opened.toString('utf8')).toBe(rec.responseBody);
      // Stored sealed, not as text: the column holds no part of the body.
      expect(a.rawExchangeSealed).not.toContain('private_key');
      expect(PEM_MARKER.test(a.rawExchangeSealed!)).toBe(false);
      expect(await stack.connector.listConnections({ tenant })).toEqual([]);
      expect(await stack.store.listCredentials({ sellerProject: project })).toEqual([]);
      const mine = stack.events.filter((e) => e.data.attempt_id === a.id).map((e) => e.type);
      expect(mine).toContain('needs_attention');
      expect(mine).not.toContain('connected');
      expect(r.callback.status).toBe(502);
      expect(r.callback.text).toContain('Our team has been alerted');
      await expectBalanced(stack, project);
      await expectNoLeaks(stack);
    });
  }
});

describe('U9b exchange 200 with a failed workflow', () => {
  it("U9b the seller's service account holds 5 keys (NC33: status.code 9) → FAILED, oauth_request_id kept and shown as a support reference", async () => {
    const project = freshSeller(sb, 'U9B').projectCode;
    for (let i = 1; i <= 5; i++) {
      const ok = await connectThrough(stack, { tenant: `t-u9b-fill-${i}`, projectCode: project });
      expect((await stack.connector.getAttempt(ok.attemptId!))!.status).toBe('CONNECTED');
    }
    expect(sb.ledger.entries({ sellerProject: project }).filter((e) => !e.removedAt)).toHaveLength(5);
    const seq = sb.journal.lastSeq;
    const r = await connectThrough(stack, { tenant: 't-u9b-sixth', projectCode: project });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('FAILED');
    expect(a).toMatchObject({ errorCode: 'EXCHANGE_FAILED', errorDetail: 'status.code 9' });
    expect(r.oauthRequestId).toBeDefined();
    expect(a.oauthRequestId).toBe(r.oauthRequestId);
    const exchanges = since(seq, 'token.exchange');
    expect(exchanges).toHaveLength(1);
    expect(exchanges[0]!.status).toBe(200);
    expect(exchanges[0]!.reason).toBe('KEY_LIMIT');
    expect(sb.ledger.entries({ sellerProject: project })).toHaveLength(5);
    expect(
      stack.events.some(
        (e) =>
          e.type === 'failed' && e.data.attempt_id === a.id && e.data.oauth_request_id === r.oauthRequestId,
      ),
    ).toBe(true);
    expect(r.callback.text).toContain(`noon request ${r.oauthRequestId}`);
    expect(r.callback.text).toContain('Start the connection again');
    await expectBalanced(stack, project);
    await expectNoLeaks(stack);
  });

  it('U9b a scripted 200 with status.code 13 and no result → FAILED with that oauth_request_id kept', async () => {
    const project = freshSeller(sb, 'U9S').projectCode;
    const rid = `req-${hex(6)}`;
    sb.addFault({
      endpoint: 'token.exchange',
      action: {
        type: 'status',
        status: 200,
        body: { status: { code: 13, message: 'internal' }, project_code: project, oauth_request_id: rid },
      },
    });
    const r = await connectThrough(stack, { tenant: 't-u9b-scripted', projectCode: project });
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('FAILED');
    expect(a).toMatchObject({ errorCode: 'EXCHANGE_FAILED', errorDetail: 'status.code 13' });
    expect(a.oauthRequestId).toBe(rid);
    expect(r.callback.text).toContain(`noon request ${rid}`);
    await expectNoLeaks(stack);
  });
});

describe('U10 stale access token', () => {
  it('U10 the access token is over 1 h old when the exchange would run → not sent; FAILED', async () => {
    const project = freshSeller(sb, 'U10').projectCode;
    const seq = sb.journal.lastSeq;
    stack.setStepHook((step) => {
      if (step === 'TOKEN_ISSUED') sb.clock.advance(61 * MIN);
    });
    let r: Awaited<ReturnType<typeof connectThrough>>;
    try {
      r = await connectThrough(stack, { tenant: 't-u10', projectCode: project });
    } finally {
      stack.setStepHook(undefined);
    }
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(since(seq, 'token.create')).toHaveLength(1);
    expect(since(seq, 'token.exchange')).toHaveLength(0);
    expect(a.status).toBe('FAILED');
    expect(a.errorCode).toBe('TOKEN_EXPIRED');
    expect(a.accessTokenSealed).toBeNull();
    expect(sb.ledger.count({ sellerProject: project })).toBe(0);
    expect(r.callback.text).toContain('Start the connection again');
    await expectNoLeaks(stack);
  });

  it('U10 an attempt left at TOKEN_ISSUED and found by the reconciler after 1 h → not sent; FAILED', async () => {
    const project = freshSeller(sb, 'U10R').projectCode;
    const seq = sb.journal.lastSeq;
    // The process stops right after TOKEN_ISSUED is committed (the hook throws, as a crash would).
    stack.setStepHook((step) => {
      if (step === 'TOKEN_ISSUED') throw new Error('stopped at TOKEN_ISSUED');
    });
    let r: Awaited<ReturnType<typeof connectThrough>>;
    try {
      r = await connectThrough(stack, { tenant: 't-u10-reconcile', projectCode: project });
    } finally {
      stack.setStepHook(undefined);
    }
    expect((await stack.connector.getAttempt(r.attemptId!))!.status).toBe('TOKEN_ISSUED');
    sb.clock.advance(61 * MIN);
    await stack.connector.reconcile();
    const a = (await stack.connector.getAttempt(r.attemptId!))!;
    expect(a.status).toBe('FAILED');
    expect(a.errorCode).toBe('TOKEN_EXPIRED');
    expect(since(seq, 'token.exchange')).toHaveLength(0);
    expect(sb.ledger.count({ sellerProject: project })).toBe(0);
    await expectNoLeaks(stack);
  });
});

describe('U12 production mode', () => {
  function parts(client: NoonClient) {
    const session = new NoonSession(client, parseCredentials(sb.fixtures.integrator.key!));
    return {
      client,
      oauth: new NoonOAuth({ session, clientId: stack.clientId, clientSecret: stack.clientSecret }),
      apiUsers: new NoonApiUsers({ session }),
    };
  }
  function base(): ConnectorOptions {
    return {
      noon: parts(stack.client),
      store: stack.store,
      vault: stack.vault,
      environment: 'production',
      publicUrl: 'https://connect.example.com',
    };
  }

  it('U12 production with an http, non-loopback publicUrl or webhook endpoint → refused at start-up with a clear error', async () => {
    const errors: string[] = [];
    for (const bad of [
      { publicUrl: 'http://connect.example.com' },
      { publicUrl: 'http://10.0.0.5:8080' },
      { webhooks: { endpoints: ['http://hooks.example.com/noon'], secret: 'w'.repeat(32) } },
    ]) {
      const e = await createConnector({ ...base(), ...bad }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ConnectError);
      expect((e as ConnectError).code).toBe('CONFIG');
      expect((e as Error).message).toMatch(/https in production/);
      errors.push((e as Error).message);
    }
    // https, and plain http on this machine, start; outside production http is allowed (sandbox, dev).
    await expect(createConnector(base())).resolves.toBeDefined();
    await expect(createConnector({ ...base(), publicUrl: 'http://127.0.0.1:3000' })).resolves.toBeDefined();
    await expect(createConnector({ ...base(), publicUrl: 'http://localhost:3000' })).resolves.toBeDefined();
    await expect(
      createConnector({
        ...base(),
        webhooks: { endpoints: ['https://hooks.example.com/noon'], secret: 'w'.repeat(32) },
      }),
    ).resolves.toBeDefined();
    await expect(
      createConnector({ ...base(), environment: 'sandbox', publicUrl: 'http://connect.example.com' }),
    ).resolves.toBeDefined();
    await expectNoLeaks(
      stack,
      errors.map((text, i) => ({ label: `start-up error ${i}`, text })),
    );
  });

  it('U12 a client with an http, non-loopback gateway → refused when built (INSECURE_URL), before any request', async () => {
    const seq = sb.journal.lastSeq;
    const messages: { label: string; text: string }[] = [];
    for (const environment of [
      { local: 'http://noon-gateway.example.com' },
      { authorizeUrl: 'https://oauth.example.com/', gatewayUrl: 'http://noon-gateway.example.com' },
      { authorizeUrl: 'http://oauth.example.com/', gatewayUrl: 'https://noon-gateway.example.com' },
    ]) {
      let err: unknown;
      try {
        new NoonClient({ environment, userAgent: UA });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NoonTypeError);
      expect((err as NoonTypeError).code).toBe('INSECURE_URL');
      expect((err as Error).message).toMatch(/https/);
      messages.push({
        label: `client error for ${JSON.stringify(environment)}`,
        text: (err as Error).message,
      });
    }
    expect(sb.journal.entries({ sinceSeq: seq })).toHaveLength(0);
    await expectNoLeaks(stack, messages);
  });

  it('U12 a gateway with a self-signed TLS certificate → the integrator login fails with a clear error before any connect; nothing reaches it', async () => {
    const tls = await startSandbox({ tls: selfSignedCertificate() });
    try {
      expect(tls.url.startsWith('https://127.0.0.1:')).toBe(true);
      const logs: unknown[] = [];
      // The default wire (undici pool) with Node's default trust store: the certificate is not trusted.
      const client = new NoonClient({
        environment: { local: tls.url },
        userAgent: UA,
        retry: { baseDelayMs: 1, maxDelayMs: 2 },
        logger: (e) => logs.push(e),
      });
      const session = new NoonSession(client, parseCredentials(tls.fixtures.integrator.key!));
      const err = await session.login().then(
        () => undefined,
        (e: unknown) => e,
      );
      await client.close();
      expect(err).toBeInstanceOf(NoonError);
      expect((err as NoonError).code).toBe('NETWORK');
      expect((err as NoonError).endpoint).toBe('login');
      expect((err as NoonError).attempts).toBe(1);
      expect((err as NoonError).message).toMatch(/TLS certificate was refused/);
      expect(session.loggedIn).toBe(false);
      // The handshake failed: no request (login JWT, cookie, secret) ever reached the gateway.
      expect(tls.journal.entries()).toHaveLength(0);
      const secrets: Secret[] = [
        { label: 'integrator key', value: tls.fixtures.integrator.key!.private_key },
        { label: 'client secret', value: tls.fixtures.client.clientSecret },
      ];
      expect(leaks(JSON.stringify((err as NoonError).toJSON()), secrets)).toEqual([]);
      expect(leaks(`${(err as Error).message}\n${JSON.stringify(logs)}`, secrets)).toEqual([]);
    } finally {
      await tls.close();
    }
  });
});
