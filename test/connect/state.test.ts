// The connect link's state and its binding to the browser (S1–S9), end to end: real HTTP to the connect handler,
// the sandbox as Noon, the connector's store wrapped so every store call is seen, and the secret search after
// every test.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { issueState, STATE_LENGTH } from '../../src/connect/binding.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import type { Attempt } from '../../src/store/index.js';
import { methodsSince, type Received, type Stack, startStack, useFileStack } from '../helpers/harness.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { Browser, freshSeller } from '../helpers/seller-flow.js';
import { postgresAvailable } from '../helpers/stores.js';

// Every buffer node:crypto's randomBytes hands out while `on` is set, so a test can show where a state's random
// part came from (S1: a CSPRNG, not Math.random or a counter).
const draws = vi.hoisted(() => ({ on: false, buffers: [] as Buffer[] }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const randomBytes = ((n: number, cb?: (err: Error | null, buf: Buffer) => void) => {
    if (cb) return real.randomBytes(n, cb);
    const b = real.randomBytes(n);
    if (draws.on) draws.buffers.push(Buffer.from(b));
    return b;
  }) as typeof real.randomBytes;
  return { ...real, randomBytes, default: { ...real, randomBytes } };
});

const B64URL_22 = /^[A-Za-z0-9_-]{22}$/;
const STATE_SHAPE = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let sb: Sandbox;
let stack: Stack;

// The secret search runs after every test, over everything captured so far.
useFileStack((s, st) => {
  sb = s;
  stack = st;
});

function expectRejected(r: Received, status = 400): void {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^text\/html/);
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
  expect(r.location).toBeNull();
  expect(r.headers.getSetCookie()).toEqual([]);
}

function expectConnected(r: Received): void {
  expect(r.status, r.text).toBe(303);
  expect(r.location).toMatch(/^\/(connect\/done\/[0-9a-f-]{36}|[^?]*\?connect_attempt=)/);
}

async function attemptFor(s: Stack, state: string): Promise<Attempt | undefined> {
  const all = await s.rawStore.listAttempts({ limit: 10_000 });
  return all.find((a) => a.stateHash === sha256(state));
}

function forgedState(): string {
  return [16, 16, 16].map((n) => randomBytes(n).toString('base64url')).join('.');
}

describe('S1 state issuance', () => {
  it('S1 100k states from issueState: all distinct, each 128 random bits in the documented shape, bits balanced', () => {
    const key = randomBytes(32);
    const binding = randomBytes(16).toString('base64url');
    const states = new Set<string>();
    const randoms = new Set<string>();
    const ones = new Array<number>(128).fill(0);
    let badShape = 0;
    let badHash = 0;
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      const { state, stateHash } = issueState(key, 'sandbox', binding, randomBytes);
      if (state.length !== STATE_LENGTH || !STATE_SHAPE.test(state)) badShape++;
      if (stateHash !== sha256(state)) badHash++;
      states.add(state);
      const r = state.slice(0, 22);
      randoms.add(r);
      const bytes = Buffer.from(r, 'base64url');
      if (bytes.length !== 16 || bytes.toString('base64url') !== r) badShape++;
      for (let bit = 0; bit < 128; bit++) if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) ones[bit]!++;
    }
    expect(badShape).toBe(0);
    expect(badHash).toBe(0);
    expect(states.size).toBe(N);
    expect(randoms.size).toBe(N);
    // 128 bits each, every one of them random: each bit position is set in ~50% of the states. With 100k draws
    // one standard deviation is 0.16%, so ±1% fails only a biased or partly constant source.
    const skewed = ones
      .map((c, bit) => ({ bit, share: c / N }))
      .filter((b) => Math.abs(b.share - 0.5) > 0.01);
    expect(skewed).toEqual([]);
  });

  it('S1 the start endpoint issues states of that same shape (22 random base64url characters and two MACs)', async () => {
    const { state } = await stack.start(new Browser(), { tenant: 'tenant-s1' });
    expect(state).toHaveLength(STATE_LENGTH);
    expect(state).toMatch(STATE_SHAPE);
    expect(Buffer.from(state.slice(0, 22), 'base64url')).toHaveLength(16);
  });

  it('S1 states issued through the start endpoint come from node:crypto randomBytes, are distinct, and only their hash is stored', async () => {
    draws.buffers.length = 0;
    draws.on = true;
    const issued: string[] = [];
    try {
      // Half from one browser (its binding cookie is reused), half from fresh browsers.
      const regular = new Browser();
      for (let i = 0; i < 40; i++) {
        const b = i % 2 === 0 ? new Browser() : regular;
        issued.push((await stack.start(b, { tenant: 'tenant-s1' })).state);
      }
    } finally {
      draws.on = false;
    }
    expect(new Set(issued).size).toBe(issued.length);
    const drawn = new Set(draws.buffers.filter((b) => b.length === 16).map((b) => b.toString('base64url')));
    for (const state of issued) {
      expect(state).toMatch(STATE_SHAPE);
      // The random part is exactly 16 bytes node:crypto's randomBytes handed out during the start.
      expect(drawn.has(state.slice(0, 22))).toBe(true);
      const a = await attemptFor(stack, state);
      expect(a?.stateHash).toBe(sha256(state));
      expect(a?.status).toBe('STARTED');
    }
    // Only the hash is stored: no state, nor its random part, in the database file or its WAL.
    const bytes = [stack.file!, `${stack.file!}-wal`]
      .map((f) => {
        try {
          return readFileSync(f).toString('latin1');
        } catch {
          return '';
        }
      })
      .join('');
    expect(bytes.length).toBeGreaterThan(0);
    for (const state of issued) {
      expect(bytes.includes(state)).toBe(false);
      expect(bytes.includes(state.slice(0, 22))).toBe(false);
    }
  });
});
describe('S2 forged, missing and unbound states', () => {
  it('S2 a callback without a state (absent, empty) → 400 page, no store access, nothing upstream', async () => {
    const b = new Browser();
    const { state } = await stack.start(b, { tenant: 'tenant-s2' });
    const code = stack.authorize(state, { projectCode: freshSeller(sb).projectCode });
    const mark = stack.journalMark();
    const from = stack.calls.length;
    for (const pairs of [
      [['code', code]],
      [],
      [
        ['state', ''],
        ['code', code],
      ],
      [
        ['STATE', state],
        ['code', code],
      ],
    ] as [string, string][][]) {
      expectRejected(await stack.request(b, stack.callback(pairs)));
    }
    expect(methodsSince(stack, from)).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
  });

  it('S2 never-issued states (forged in the right shape, issued by another deployment, garbage) → 400, no store access, nothing upstream; the real state still works', async () => {
    const seller = freshSeller(sb);
    const b = new Browser();
    const { state } = await stack.start(b, { tenant: 'tenant-s2' });
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    // A real state from another connector (its own state key), carried by the same browser.
    const other = await startStack({ wire: 'search', sandbox: sb });
    try {
      const foreign = (await other.start(new Browser())).state;
      stack.search.add('state', foreign);
      const mark = stack.journalMark();
      const from = stack.calls.length;
      const forged = forgedState();
      // Same random part as the real state, MACs forged: the MAC, not the random part, is what is trusted.
      const spliced = `${state.slice(0, 22)}.${forged.slice(23)}`;
      for (const bad of [
        forged,
        spliced,
        foreign,
        'abc',
        `${state}x`,
        state.slice(0, -1),
        state.replace(/\./g, '_'),
      ]) {
        expectRejected(
          await stack.request(
            b,
            stack.callback([
              ['state', bad],
              ['code', code],
            ]),
          ),
        );
      }
      expect(methodsSince(stack, from)).toEqual([]);
      expect(stack.upstreamSince(mark)).toEqual([]);
      // Nothing above touched the real state: it still connects.
      expectConnected(await stack.request(b, stack.codeCallback(code, state)));
    } finally {
      await other.close();
    }
  });

  it('S2 a real state without its binding cookie (none, malformed, repeated, wrong name) → 400 page, no store access, nothing upstream', async () => {
    const seller = freshSeller(sb);
    const b = new Browser();
    const { state } = await stack.start(b, { tenant: 'tenant-s2' });
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    const bind = b.cookies.get('nc_bind')!;
    expect(bind).toMatch(B64URL_22);
    const url = stack.codeCallback(code, state);
    const mark = stack.journalMark();
    const from = stack.calls.length;
    for (const cookie of [
      undefined,
      'nc_bind=short',
      `nc_bind=${bind}x`,
      `nc_bind=${bind}; nc_bind=${bind}`,
      `nc_bind=${bind}; nc_bind=${randomBytes(16).toString('base64url')}`,
      // On an http public URL the cookie is plain nc_bind; a __Host- one is not ours.
      `__Host-nc_bind=${bind}`,
      `other=${bind}`,
    ]) {
      const bare = new Browser();
      expectRejected(await stack.request(bare, url, cookie ? { headers: { cookie } } : {}));
    }
    expect(methodsSince(stack, from)).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
    // The state was never touched: with its own cookie it connects.
    expectConnected(await stack.request(b, url));
  });

  it('S2 a state signed with our key but never recorded (a restored database) → 400 after one claim lookup; nothing created, nothing upstream', async () => {
    const sealed = await stack.rawStore.getMeta('connect.state-key');
    const key = Buffer.from(
      await stack.vault.open(sealed!, {
        tenant: '-',
        project: '-',
        credentialId: 'state-key',
        purpose: 'state-mac-key',
      }),
    );
    const b = new Browser();
    await stack.start(b, { tenant: 'tenant-s2' });
    const { state } = issueState(key, 'sandbox', b.cookies.get('nc_bind')!, randomBytes);
    stack.search.add('state', state);
    const before = (await stack.rawStore.listAttempts({ limit: 10_000 })).length;
    const mark = stack.journalMark();
    const from = stack.calls.length;
    expectRejected(
      await stack.request(
        b,
        stack.callback([
          ['code', 'code-that-was-never-issued'],
          ['state', state],
        ]),
      ),
    );
    expect(methodsSince(stack, from)).toEqual(['claimAttempt']);
    expect((await stack.rawStore.listAttempts({ limit: 10_000 })).length).toBe(before);
    expect(stack.upstreamSince(mark)).toEqual([]);
  });
});

describe('S3 a state from another browser', () => {
  it("S3 a valid state with another browser's binding cookie → 400, judged before the store, burned (the owner's callback then fails), nothing upstream, the code unspent", async () => {
    const seller = freshSeller(sb);
    const owner = new Browser();
    const attacker = new Browser();
    const { state } = await stack.start(owner, { tenant: 'tenant-s3' });
    // The other browser has a binding of its own: a well-formed cookie, just not this state's.
    await stack.start(attacker, { tenant: 'tenant-s3' });
    expect(attacker.cookies.get('nc_bind')).not.toBe(owner.cookies.get('nc_bind'));
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    const url = stack.codeCallback(code, state);
    const mark = stack.journalMark();
    const from = stack.calls.length;

    expectRejected(await stack.request(attacker, url));
    // The verdict needed no store read: the first store call is the burn of exactly this state.
    const calls = stack.calls.slice(from);
    expect(calls[0]).toEqual({ method: 'claimAttempt', args: [sha256(state), expect.any(Number)] });
    expect(calls.map((c) => c.method)).not.toContain('getAttempt');
    const burned = await attemptFor(stack, state);
    expect(burned).toMatchObject({ status: 'FAILED', errorCode: 'BINDING_MISMATCH', tenant: 'tenant-s3' });
    expect(burned!.consumedAt).not.toBeNull();

    // The owner's own callback afterwards is refused too: a state is used once, whoever used it.
    const late = await stack.request(owner, url);
    expect(late.status).toBe(400);
    expect(late.location).toBeNull();
    expect(late.text).toContain('Not connected');

    expect(stack.upstreamSince(mark)).toEqual([]);
    expect(stack.upstreamSince(mark, 'token.create')).toEqual([]);
    expect(sb.world.codes.get(sha256(code))?.usedAt).toBeUndefined();
    expect(await stack.rawStore.findConnection('tenant-s3', seller.projectCode)).toBeUndefined();
  });
});

describe('S4 expiry', () => {
  it('S4 a state past its 10-minute TTL → "link expired" page, nothing upstream; at 9:59 it still connects', async () => {
    const seller = freshSeller(sb);
    const b = new Browser();
    const { state, res } = await stack.start(b, { tenant: 'tenant-s4' });
    // The binding cookie lives no longer than the link.
    expect(Number(/Max-Age=(\d+)/.exec(res.headers.getSetCookie()[0]!)?.[1])).toBeLessThanOrEqual(600);
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    sb.clock.advance(10 * 60_000);
    const mark = stack.journalMark();
    const url = stack.codeCallback(code, state);
    const expired = await stack.request(b, url);
    expect(expired.status).toBe(400);
    expect(expired.text).toContain('This link expired');
    expect(expired.text).toContain('Start again');
    expect(expired.headers.get('cache-control')).toBe('no-store');
    expect(await attemptFor(stack, state)).toMatchObject({ status: 'FAILED', errorCode: 'STATE_EXPIRED' });
    // Again: still expired, still nothing sent.
    expect((await stack.request(b, url)).text).toContain('This link expired');
    expect(stack.upstreamSince(mark)).toEqual([]);

    // Control: the same flow one second before the end of its life connects.
    const again = await stack.start(b, { tenant: 'tenant-s4' });
    sb.clock.advance(10 * 60_000 - 1000);
    const fresh = stack.authorize(again.state, { projectCode: seller.projectCode });
    expectConnected(
      await stack.request(
        b,
        stack.callback([
          ['code', fresh],
          ['state', again.state],
        ]),
      ),
    );
  });
});

async function parallelCallbacks(s: Stack, tenant: string): Promise<void> {
  const seller = freshSeller(sb);
  const b = new Browser();
  const { state } = await s.start(b, { tenant });
  const code = s.authorize(state, { projectCode: seller.projectCode });
  const url = s.callback([
    ['code', code],
    ['state', state],
  ]);
  const mark = s.journalMark();
  const from = s.calls.length;
  const ledgerBefore = sb.ledger.count({ sellerProject: seller.projectCode });
  const answers = await Promise.all(Array.from({ length: 20 }, () => s.request(b, url)));
  const statuses = answers.map((a) => a.status);
  expect(statuses.filter((st) => st === 303)).toHaveLength(1);
  // The others saw a state already taken: "finishing" (202) while the winner worked, "already connected" after.
  for (const a of answers.filter((x) => x.status !== 303)) {
    expect([200, 202]).toContain(a.status);
    expect(a.text).toMatch(/Already connected|Finishing the connection/);
  }
  expect(methodsSince(s, from).filter((m) => m === 'claimAttempt')).toHaveLength(20);
  expect(s.upstreamSince(mark, 'token.create')).toHaveLength(1);
  expect(s.upstreamSince(mark, 'token.exchange')).toHaveLength(1);
  // One finish too: the new key is tried (seller login + whoami) once, not once per waiting callback.
  expect(s.upstreamSince(mark, 'whoami')).toHaveLength(1);
  expect(sb.ledger.count({ sellerProject: seller.projectCode })).toBe(ledgerBefore + 1);
  const conns = await s.rawStore.listConnections({ tenant });
  expect(conns.filter((c) => c.sellerProject === seller.projectCode && c.status === 'active')).toHaveLength(
    1,
  );
}

describe('S5 one state, many callbacks', () => {
  it('S5 20 parallel callbacks with one valid state (same browser) → exactly one proceeds; the sandbox sees one token/create (SQLite)', async () => {
    await parallelCallbacks(stack, 'tenant-s5');
  });

  it('S5 20 parallel callbacks with one valid state → exactly one proceeds; one token/create (Postgres)', async (ctx) => {
    if (!(await postgresAvailable())) ctx.skip();
    const pgStack = await startStack({ wire: 'search', sandbox: sb, store: 'postgres' });
    try {
      await parallelCallbacks(pgStack, 'tenant-s5-pg');
      expect(pgStack.search.findings()).toEqual([]);
    } finally {
      await pgStack.close();
    }
  });
});

describe('S5 callbacks arriving while the first one finishes', () => {
  it('S5 callbacks for one state that arrive while the first holds the stored key → none of them finishes it a second time: one 303, one token/create, one seller login check', async () => {
    let armed = true;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let reached!: () => void;
    const atKeyStored = new Promise<void>((r) => {
      reached = r;
    });
    const held = await startStack({
      wire: 'search',
      sandbox: sb,
      connector: {
        stepHook: async (step) => {
          if (step !== 'KEY_STORED' || !armed) return;
          armed = false;
          reached();
          await gate;
        },
      },
    });
    try {
      const seller = freshSeller(sb);
      const b = new Browser();
      const { state } = await held.start(b, { tenant: 'tenant-s5-held' });
      const code = held.authorize(state, { projectCode: seller.projectCode });
      const url = held.callback([
        ['code', code],
        ['state', state],
      ]);
      const mark = held.journalMark();
      const first = held.request(b, url);
      await atKeyStored;
      const claimsBefore = held.calls.filter((c) => c.method === 'claimAttempt').length;
      const late = Array.from({ length: 19 }, () => held.request(b, url));
      // Let all 19 reach the store before the first one goes on.
      for (let i = 0; i < 2000; i++) {
        if (held.calls.filter((c) => c.method === 'claimAttempt').length >= claimsBefore + 19) break;
        await new Promise((r) => setImmediate(r));
      }
      release();
      const answers = await Promise.all([first, ...late]);
      expect(answers.map((a) => a.status).filter((st) => st === 303)).toHaveLength(1);
      for (const a of answers.filter((x) => x.status !== 303)) expect([200, 202]).toContain(a.status);
      expect(held.upstreamSince(mark, 'token.create')).toHaveLength(1);
      expect(held.upstreamSince(mark, 'token.exchange')).toHaveLength(1);
      expect(held.upstreamSince(mark, 'whoami')).toHaveLength(1);
      expect(await held.rawStore.listCredentials({ sellerProject: seller.projectCode })).toHaveLength(1);
      expect(held.search.findings()).toEqual([]);
    } finally {
      release();
      await held.close();
    }
  });
});

describe('S6 refresh after success', () => {
  it('S6 refreshing the callback (or going back to it) after success → "already connected", nothing upstream', async () => {
    const seller = freshSeller(sb);
    const b = new Browser();
    const { state } = await stack.start(b, { tenant: 'tenant-s6' });
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    const url = stack.codeCallback(code, state);
    const first = await stack.request(b, url);
    expectConnected(first);
    const mark = stack.journalMark();
    const ledgerBefore = sb.ledger.count();
    for (let i = 0; i < 3; i++) {
      const again = await stack.request(b, url);
      expect(again.status).toBe(200);
      expect(again.text).toContain('Already connected');
      expect(again.text).toContain(seller.projectCode);
      expect(again.headers.get('cache-control')).toBe('no-store');
    }
    // The clean URL it was sent to keeps answering too, also without Noon.
    const done = await stack.request(b, new URL(first.location!, stack.origin).toString());
    expect(done.status).toBe(200);
    expect(done.text).toContain('Connected');
    expect(stack.upstreamSince(mark)).toEqual([]);
    expect(sb.ledger.count()).toBe(ledgerBefore);
  });
});

describe('S7 repeated parameters', () => {
  it('S7 state or code repeated in the query → 400 before the store; nothing upstream; the state stays usable', async () => {
    const seller = freshSeller(sb);
    const b = new Browser();
    const { state } = await stack.start(b, { tenant: 'tenant-s7' });
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    const mark = stack.journalMark();
    const from = stack.calls.length;
    const variants: [string, string][][] = [
      [
        ['state', state],
        ['state', state],
        ['code', code],
      ],
      [
        ['state', state],
        ['code', code],
        ['code', code],
      ],
      [
        ['code', 'x-other-code-value'],
        ['state', state],
        ['code', code],
      ],
      [
        ['state', forgedState()],
        ['code', code],
        ['state', state],
      ],
      [
        ['state', state],
        ['code', code],
        ['error', 'access_denied'],
        ['error', 'access_denied'],
      ],
    ];
    for (const pairs of variants) expectRejected(await stack.request(b, stack.callback(pairs)));
    expect(methodsSince(stack, from)).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
    expectConnected(await stack.request(b, stack.codeCallback(code, state)));
  });
});

describe('S8 values only from the stored record', () => {
  it('S8 extra query fields (tenant, seller, return path, project) are ignored: tenant and return path come from the stored record', async () => {
    const seller = freshSeller(sb);
    const decoy = freshSeller(sb);
    const b = new Browser();
    const { state } = await stack.start(b, { tenant: 'tenant-s8', return_to: '/settings/noon' });
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    const res = await stack.request(
      b,
      stack.callback([
        ['tenant', 'tenant-evil'],
        ['seller', decoy.projectCode],
        ['seller_project', decoy.projectCode],
        ['project', decoy.projectCode],
        ['project_code', decoy.projectCode],
        ['return_to', '//evil.com'],
        ['returnTo', 'https://evil.com/'],
        ['redirect_uri', 'https://evil.com/cb'],
        ['environment', 'production'],
        ['connection_id', '00000000-0000-4000-8000-000000000000'],
        ['code', code],
        ['state', state],
      ]),
    );
    expect(res.status, res.text).toBe(303);
    const loc = new URL(res.location!, 'http://relative.invalid');
    expect(loc.origin).toBe('http://relative.invalid');
    expect(loc.pathname).toBe('/settings/noon');
    expect(loc.searchParams.get('connect_status')).toBe('connected');
    expect(res.location).not.toContain('evil');
    const conns = await stack.rawStore.listConnections({ tenant: 'tenant-s8' });
    expect(conns.map((c) => c.sellerProject)).toEqual([seller.projectCode]);
    expect(await stack.rawStore.listConnections({ tenant: 'tenant-evil' })).toEqual([]);
    expect(await stack.rawStore.findConnection('tenant-s8', decoy.projectCode)).toBeUndefined();
    expect(await attemptFor(stack, state)).toMatchObject({
      tenant: 'tenant-s8',
      returnTo: '/settings/noon',
      environment: 'sandbox',
      status: 'CONNECTED',
    });
  });

  it('S8 a tampered binding cookie (one character changed, or extra cookies naming a tenant) → rejected; nothing upstream', async () => {
    const seller = freshSeller(sb);
    const b = new Browser();
    const { state } = await stack.start(b, { tenant: 'tenant-s8' });
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    const bind = b.cookies.get('nc_bind')!;
    const flipped = `${bind.slice(0, 5)}${bind[5] === 'A' ? 'B' : 'A'}${bind.slice(6)}`;
    const url = stack.codeCallback(code, state);
    const mark = stack.journalMark();
    // Cookies that only add fields are ignored: the binding still decides, and it is missing here.
    const extra = await stack.request(new Browser(), url, {
      headers: { cookie: 'tenant=tenant-evil; nc_tenant=tenant-evil; return_to=//evil.com' },
    });
    expectRejected(extra);
    const tampered = await stack.request(new Browser(), url, { headers: { cookie: `nc_bind=${flipped}` } });
    expectRejected(tampered);
    expect(await attemptFor(stack, state)).toMatchObject({ status: 'FAILED', errorCode: 'BINDING_MISMATCH' });
    expect(stack.upstreamSince(mark)).toEqual([]);
    expect(await stack.rawStore.listConnections({ tenant: 'tenant-evil' })).toEqual([]);
  });
});

describe('S9 environments', () => {
  let prod: Stack;
  beforeAll(async () => {
    // Same store, same vault, so the same state key: only the environment differs.
    prod = await startStack({
      wire: 'search',
      sandbox: sb,
      shareWith: stack,
      connector: { environment: 'production' },
    });
  });
  afterAll(async () => {
    await prod?.close();
  });

  it("S9 a state issued by the 'sandbox' connector arriving at the 'production' one (same store and vault) → 400 before the store; nothing upstream; the state stays good where it belongs", async () => {
    expect(prod.connector.environment).toBe('production');
    expect(await prod.rawStore.getMeta('connect.state-key')).toBe(
      await stack.rawStore.getMeta('connect.state-key'),
    );
    const seller = freshSeller(sb);
    const b = new Browser();
    const { state } = await stack.start(b, { tenant: 'tenant-s9' });
    const code = stack.authorize(state, { projectCode: seller.projectCode });
    const mark = stack.journalMark();
    const from = prod.calls.length;
    const pairs: [string, string][] = [
      ['code', code],
      ['state', state],
    ];
    expectRejected(await prod.request(b, prod.callback(pairs)));
    expect(methodsSince(prod, from)).toEqual([]);
    expect(stack.upstreamSince(mark)).toEqual([]);
    expect(await attemptFor(stack, state)).toMatchObject({ status: 'STARTED', environment: 'sandbox' });
    expectConnected(await stack.request(b, stack.callback(pairs)));
  });

  it("S9 a production-signed state whose stored record says 'sandbox' → refused by the record check and burned; nothing upstream", async () => {
    // Defence in depth: even with a MAC valid for production, the stored environment must match too.
    const key = Buffer.from(
      await prod.vault.open((await prod.rawStore.getMeta('connect.state-key'))!, {
        tenant: '-',
        project: '-',
        credentialId: 'state-key',
        purpose: 'state-mac-key',
      }),
    );
    const b = new Browser();
    await prod.start(b, { tenant: 'tenant-s9' });
    const { state, stateHash } = issueState(key, 'production', b.cookies.get('nc_bind')!, randomBytes);
    prod.search.add('state', state);
    const now = sb.clock.now();
    await prod.rawStore.createAttempt({
      id: randomUUID(),
      tenant: 'tenant-s9',
      stateHash,
      environment: 'sandbox',
      returnTo: '/',
      createdAt: now,
      expiresAt: now + 600_000,
      connectionId: null,
    });
    const seller = freshSeller(sb);
    const code = prod.authorize(state, { projectCode: seller.projectCode });
    const mark = prod.journalMark();
    const res = await prod.request(
      b,
      prod.callback([
        ['code', code],
        ['state', state],
      ]),
    );
    expectRejected(res);
    expect(await attemptFor(prod, state)).toMatchObject({ status: 'FAILED', errorCode: 'WRONG_ENVIRONMENT' });
    expect(prod.upstreamSince(mark)).toEqual([]);
  });
});

describe('the secret search itself', () => {
  it('knows every kind of secret a connect handles, and finds one planted in a log line, a page or an error', async () => {
    const seller = freshSeller(sb);
    const b = new Browser();
    const { state: issued } = await stack.start(b, { tenant: 'tenant-search' });
    const issuedCode = stack.authorize(issued, { projectCode: seller.projectCode });
    expectConnected(await stack.request(b, stack.codeCallback(issuedCode, issued)));
    for (const kind of [
      'client secret',
      'code',
      'state',
      'access token',
      'session cookie',
      'login JWT',
      'PEM',
    ] as const) {
      expect(stack.search.count(kind), kind).toBeGreaterThan(0);
    }
    const planted = new SecretSearch();
    const code = randomBytes(24).toString('base64url');
    const state = forgedState();
    const pem = sb.fixtures.integrator.key!.private_key;
    planted.add('code', code);
    planted.add('state', state);
    planted.addPem(pem);
    const logs: unknown[] = [{ level: 'warn', msg: 'token/create failed', detail: `code ${code}` }];
    planted.watch('logs', logs);
    planted.captureResponse('page', 200, new Headers(), `<a href="/x?s=${encodeURIComponent(state)}">`);
    planted.captureError('error', new Error(`bad key ${pem.split('\n')[3]}`));
    expect(planted.findings()).toEqual([
      { where: 'page', kind: 'state' },
      { where: 'error', kind: 'PEM' },
      { where: 'logs[0]', kind: 'code' },
    ]);
  });
});
