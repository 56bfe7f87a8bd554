// Webhooks from the outbox: events are committed with the state change that caused them, and the
// WebhookWorker delivers each one, signed, to a receiver that may be down for a while, across crashes of the
// connector or of a worker, exactly once even with two workers running. A receiver here checks each
// signature with its own verifier (node:crypto only), as an integrator's endpoint would.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookWorker } from '../../src/connect/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import type { NewEvent, Store } from '../../src/store/index.js';
import { type Stack, stackSecrets, startStack } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { Browser, connectThrough, freshSeller } from '../helpers/seller-flow.js';
import { freshPostgres, freshSqlite, PG_URL, postgresAvailable } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';
import type { WebhookChildConfig } from '../helpers/webhook-child.js';
import { createReceiver, type Received, type Receiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${randomBytes(24).toString('hex')}`;
const SIGNATURE = 'x-noon-connect-signature';
const TOLERANCE_S = 300;

/**
 * The receiver's own check: `t=<unix>,v1=<hex>`; v1 must equal HMAC-SHA256(secret, "<t>.<raw body>") (compared
 * in constant time) and t must be within the tolerance of the receiver's clock.
 */
function verify(
  header: string | undefined,
  body: string,
  secret: string,
  nowS: number,
): 'ok' | 'malformed' | 'stale' | 'bad-signature' {
  if (!header) return 'malformed';
  const fields = new Map<string, string>();
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return 'malformed';
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const t = fields.get('t');
  const v1 = fields.get('v1');
  if (!t || !/^\d{1,12}$/.test(t) || !v1 || !/^[0-9a-f]{64}$/.test(v1)) return 'malformed';
  if (Math.abs(nowS - Number(t)) > TOLERANCE_S) return 'stale';
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'ok' : 'bad-signature';
}

/** The signed timestamp of a delivery. */
function signedAt(r: Received): number {
  return Number(/t=(\d+)/.exec(r.headers[SIGNATURE] ?? '')?.[1]);
}

function idsOf(received: Received[], answered = 200): string[] {
  return received.filter((r) => r.answered === answered).map((r) => JSON.parse(r.body).id as string);
}

/** Events appended straight to the outbox, for volume; the connector writes the same rows with its commits. */
function outboxEvents(n: number, endpoint: string, now: number): NewEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `evt-${randomBytes(6).toString('hex')}-${i}`,
    type: 'connected',
    tenant: 'tenant-bulk',
    connectionId: null,
    attemptId: null,
    payload: JSON.stringify({ tenant: 'tenant-bulk', seller_project: `PRJ9${String(i).padStart(4, '0')}` }),
    createdAt: now,
    endpoints: [endpoint],
  }));
}

interface ChildRun {
  child: ChildProcess;
  out: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runChild(config: WebhookChildConfig): ChildRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/webhook-child.ts'], {
    env: { ...process.env, NC_WEBHOOK_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal === null) process.stderr.write(`webhook child (${config.mode}): ${err}\n`);
      resolve({ code, signal });
    }),
  );
  return { child, out: () => out + err, exit };
}

function delivered(run: ChildRun): number {
  return Number(/DELIVERED (\d+)/.exec(run.out())?.[1] ?? Number.NaN);
}

let sb: Sandbox;
const newSeller = (): string => freshSeller(sb, 'W').projectCode;

beforeAll(async () => {
  sb = await startSandbox({ poolSize: 8 });
});
afterAll(async () => {
  await sb?.close();
});

describe('webhook signatures', () => {
  it('the independent verifier accepts a genuine signature and refuses tampering, another secret, a stale or malformed header', () => {
    const body =
      '{"id":"e1","type":"connected","created_at":"2026-01-01T00:00:00.000Z","data":{"tenant":"t"}}';
    const t = 1_800_000_000;
    const sig = `t=${t},v1=${createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex')}`;
    expect(verify(sig, body, SECRET, t)).toBe('ok');
    expect(verify(sig, body.replace('"t"', '"u"'), SECRET, t)).toBe('bad-signature');
    expect(verify(sig, body, `${SECRET}x`, t)).toBe('bad-signature');
    expect(verify(sig.replace(`t=${t}`, `t=${t + 1}`), body, SECRET, t)).toBe('bad-signature');
    expect(verify(sig, body, SECRET, t + TOLERANCE_S + 1)).toBe('stale');
    expect(verify(undefined, body, SECRET, t)).toBe('malformed');
    expect(verify('v1=abc', body, SECRET, t)).toBe('malformed');
  });
});

describe('WebhookWorker options', () => {
  it('refuses a short secret, a lease no longer than the send deadline, and non-positive sizes', async () => {
    const { store } = await freshSqlite();
    try {
      expect(() => new WebhookWorker({ store, secret: 'short' })).toThrow(TypeError);
      expect(() => new WebhookWorker({ store, secret: SECRET, leaseMs: 5000, timeoutMs: 5000 })).toThrow(
        /leaseMs/,
      );
      expect(() => new WebhookWorker({ store, secret: SECRET, batch: 0 })).toThrow(/batch/);
      expect(() => new WebhookWorker({ store, secret: SECRET, baseBackoffMs: -1 })).toThrow(/baseBackoffMs/);
      expect(
        () => new WebhookWorker({ store, secret: SECRET, leaseMs: 6000, timeoutMs: 5000 }),
      ).not.toThrow();
    } finally {
      await store.close();
    }
  });
});

const TARGETS = [
  { name: 'sqlite' as const, available: async () => true },
  { name: 'postgres' as const, available: postgresAvailable },
];

describe.each(TARGETS)('webhooks on $name', ({ name, available }) => {
  let run = false;
  let receiver: Receiver;
  let stack: Stack;
  beforeAll(async () => {
    run = await available();
    if (!run) return;
    receiver = await createReceiver({ listen: false });
    stack = await startStack({
      store: name,
      sandbox: sb,
      wire: 'record',
      connector: { webhooks: { endpoints: [receiver.url], secret: SECRET } },
    });
  });
  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });

  it(`${name}: a receiver that is down (refused, then 503) gets every event later, once each, after doubling back-off; each signature verifies`, async (ctx) => {
    if (!run) return ctx.skip();
    // Three connects and a seller who says no: three `connected` events and one `failed`.
    const projects = [newSeller(), newSeller(), newSeller()];
    for (const p of projects)
      expect((await connectThrough(stack, { projectCode: p })).callback.status).toBe(303);
    const browser = new Browser();
    const start = await browser.get(`${stack.origin}/connect/start?tenant=tenant-1`);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    expect((await browser.get(`${stack.callbackUrl}?error=access_denied&state=${state}`)).status).toBe(200);
    const events = await stack.store.listEvents({});
    expect(events.map((e) => e.type).sort()).toEqual(['connected', 'connected', 'connected', 'failed']);
    const eventIds = events.map((e) => e.id).sort();

    let now = Math.max(...events.map((e) => e.createdAt)) + 1000;
    const base = 1000;
    const worker = new WebhookWorker({
      store: stack.store,
      secret: SECRET,
      clock: { now: () => now },
      random: () => 1, // jitter factor 0.5 + 1/2 = 1: the delay is exactly the doubled one
      baseBackoffMs: base,
      maxBackoffMs: 60_000,
      timeoutMs: 2000,
    });
    const pending = async () => stack.store.listDeliveries({ pending: true });

    // Down: nothing listens on the port.
    expect(await worker.runOnce()).toEqual({ delivered: 0, failed: 4 });
    for (const d of await pending()) {
      expect(d.attempts).toBe(1);
      expect(d.nextAt).toBe(now + base);
      expect(d.lastStatus).toBeNull();
    }
    // Not due yet: nothing is sent.
    expect(await worker.runOnce()).toEqual({ delivered: 0, failed: 0 });

    // Up but answering 503 twice.
    receiver.status = 503;
    await receiver.listen();
    now += base - 1;
    expect(await worker.runOnce()).toEqual({ delivered: 0, failed: 0 });
    now += 1;
    expect(await worker.runOnce()).toEqual({ delivered: 0, failed: 4 });
    for (const d of await pending()) {
      expect(d.attempts).toBe(2);
      expect(d.lastStatus).toBe(503);
      expect(d.nextAt).toBe(now + 2 * base);
    }
    now += 2 * base;
    expect(await worker.runOnce()).toEqual({ delivered: 0, failed: 4 });
    expect((await pending()).every((d) => d.nextAt === now + 4 * base)).toBe(true);

    // Back: every event arrives once.
    receiver.status = 200;
    now += 4 * base;
    expect(await worker.runOnce()).toEqual({ delivered: 4, failed: 0 });
    expect(await pending()).toHaveLength(0);
    expect(await worker.runOnce()).toEqual({ delivered: 0, failed: 0 });
    expect(idsOf(receiver.received).sort()).toEqual(eventIds);
    expect(idsOf(receiver.received, 503)).toHaveLength(8);

    for (const r of receiver.received) {
      expect(r.path).toBe(new URL(receiver.url).pathname);
      expect(r.headers['content-type']).toBe('application/json');
      const ev = JSON.parse(r.body);
      expect(r.headers['x-noon-connect-event']).toBe(ev.type);
      expect(r.headers['x-noon-connect-delivery']).toBe(ev.id);
      // Verified against the sender's clock at the time of sending (the worker's injected one).
      expect(verify(r.headers[SIGNATURE], r.body, SECRET, signedAt(r))).toBe('ok');
      expect(verify(r.headers[SIGNATURE], r.body, 'another-secret-of-32-characters!!', signedAt(r))).toBe(
        'bad-signature',
      );
    }
    const final = receiver.received.filter((r) => r.answered === 200);
    for (const r of final)
      expect(verify(r.headers[SIGNATURE], r.body, SECRET, Math.floor(now / 1000))).toBe('ok');
  });

  it(`${name}: back-off doubles per failure, is jittered within [0.5, 1] of the doubled delay and capped`, async (ctx) => {
    if (!run) return ctx.skip();
    const r = await createReceiver();
    r.status = 500;
    const { store, cleanup } = await openStore(name);
    try {
      let now = 1_000_000;
      await store.appendEvents(outboxEvents(1, r.url, now));
      const rolls = [0, 1, 0.5, 0, 1, 0.25, 0, 1];
      let i = 0;
      const worker = new WebhookWorker({
        store,
        secret: SECRET,
        clock: { now: () => now },
        random: () => rolls[i++ % rolls.length]!,
        baseBackoffMs: 100,
        maxBackoffMs: 1000,
        timeoutMs: 2000,
      });
      const delays: number[] = [];
      for (let n = 0; n < rolls.length; n++) {
        expect(await worker.runOnce()).toEqual({ delivered: 0, failed: 1 });
        const [d] = await store.listDeliveries({ pending: true });
        delays.push(d!.nextAt - now);
        now = d!.nextAt;
      }
      const doubled = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
      expect(delays).toEqual(doubled.map((v, n) => Math.round(v * (0.5 + rolls[n]! / 2))));
      expect(r.received).toHaveLength(rolls.length);
    } finally {
      await r.close();
      await cleanup();
    }
  });

  it(`${name}: two workers running at once (two store connections, slow receiver) deliver each of 60 events exactly once`, async (ctx) => {
    if (!run) return ctx.skip();
    const r = await createReceiver();
    r.delayMs = 15;
    const a = await openStore(name);
    const b = await openStore(name, a);
    try {
      await a.store.appendEvents(outboxEvents(60, r.url, Date.now() - 1000));
      const opts = { secret: SECRET, batch: 7, intervalMs: 1, timeoutMs: 2000, leaseMs: 10_000 };
      const w1 = new WebhookWorker({ store: a.store, ...opts });
      const w2 = new WebhookWorker({ store: b.store, ...opts });
      w1.start();
      w2.start();
      await waitFor(
        'no delivery left pending',
        async () => (await a.store.listDeliveries({ pending: true, limit: 1 })).length === 0,
        { timeoutMs: 15_000 },
      ).finally(() => Promise.all([w1.stop(), w2.stop()]));
      const ids = idsOf(r.received);
      expect(ids).toHaveLength(60);
      expect(new Set(ids).size).toBe(60);
      expect(
        r.received.every((x) => verify(x.headers[SIGNATURE], x.body, SECRET, signedAt(x)) === 'ok'),
      ).toBe(true);
    } finally {
      await r.close();
      await b.cleanup();
      await a.cleanup();
    }
  });

  it(`${name}: two worker processes draining one outbox at once deliver each of 60 events exactly once`, async (ctx) => {
    if (!run) return ctx.skip();
    const r = await createReceiver();
    r.delayMs = 15;
    const a = await openStore(name);
    try {
      await a.store.appendEvents(outboxEvents(60, r.url, Date.now() - 1000));
      const config: WebhookChildConfig = { mode: 'worker', store: a.config, secret: SECRET, maxMs: 15_000 };
      const [p1, p2] = [runChild(config), runChild(config)];
      const [e1, e2] = await Promise.all([p1.exit, p2.exit]);
      expect(e1.code).toBe(0);
      expect(e2.code).toBe(0);
      const ids = idsOf(r.received);
      expect(new Set(ids).size).toBe(60);
      expect(ids).toHaveLength(60);
      expect(delivered(p1) + delivered(p2)).toBe(60);
      expect(await a.store.listDeliveries({ pending: true })).toHaveLength(0);
    } finally {
      await r.close();
      await a.cleanup();
    }
  });

  it(`${name}: a worker killed after leasing, before sending, delays nothing past its lease: a new worker process delivers`, async (ctx) => {
    if (!run) return ctx.skip();
    const r = await createReceiver();
    const a = await openStore(name);
    try {
      await a.store.appendEvents(outboxEvents(3, r.url, Date.now() - 1000));
      const leaseMs = 20_000;
      const doomed = runChild({ mode: 'doomed-worker', store: a.config, secret: SECRET, leaseMs });
      expect((await doomed.exit).signal).toBe('SIGKILL');
      expect(doomed.out()).toContain('LEASED');
      expect(r.received).toHaveLength(0);
      const leased = await a.store.listDeliveries({ pending: true });
      expect(leased).toHaveLength(3);
      expect(leased.every((d) => d.leaseUntil !== null && d.leaseUntil > Date.now())).toBe(true);
      // While the dead worker's lease holds, another worker leaves those deliveries alone...
      const early = runChild({ mode: 'worker', store: a.config, secret: SECRET, maxMs: 300 });
      expect((await early.exit).code).toBe(0);
      expect(delivered(early)).toBe(0);
      expect(r.received).toHaveLength(0);
      // ...and once it has run out (the new worker's clock is past it), delivers every one.
      const late = runChild({
        mode: 'worker',
        store: a.config,
        secret: SECRET,
        clockOffsetMs: leaseMs + 1000,
      });
      expect((await late.exit).code).toBe(0);
      expect(delivered(late)).toBe(3);
      expect(new Set(idsOf(r.received)).size).toBe(3);
      expect(r.received).toHaveLength(3);
    } finally {
      await r.close();
      await a.cleanup();
    }
  });

  it(`${name}: payloads carry metadata only: no key, access token, code, client secret or session cookie`, async (ctx) => {
    if (!run) return ctx.skip();
    receiver.status = 200;
    const before = receiver.received.length;
    const p = newSeller();
    const run1 = await connectThrough(stack, { projectCode: p, tenant: 'tenant-meta' });
    expect(run1.callback.status).toBe(303);
    const [conn] = await stack.connector.listConnections({ tenant: 'tenant-meta' });
    await stack.connector.rotate(conn!.id);
    await stack.connector.disconnect(conn!.id);
    const worker = new WebhookWorker({ store: stack.store, secret: SECRET, timeoutMs: 2000 });
    let guard = 0;
    while ((await stack.store.listDeliveries({ pending: true, limit: 1 })).length > 0 && guard++ < 20) {
      await worker.runOnce();
      await new Promise((res) => setTimeout(res, 5));
    }
    const bodies = receiver.received.slice(before).map((r) => r.body);
    const types = bodies.map((b) => JSON.parse(b).type);
    expect(types).toEqual(expect.arrayContaining(['connected', 'rotated', 'disconnected']));

    // Every secret that crossed the wire: access tokens and private keys from Noon's answers, the code and
    // state of the connect, the client secret and the integrator's key.
    const secrets = new Set<string>([...stackSecrets(stack), run1.code!, run1.state]);
    await stack.wire.settled();
    for (const w of stack.wire.records.map((r) => r.responseBody ?? '')) {
      let j: any;
      try {
        j = JSON.parse(w);
      } catch {
        continue;
      }
      const key = j?.result?.private_key ?? j?.private_key;
      if (typeof j?.access_token === 'string') secrets.add(j.access_token);
      if (typeof key === 'string') {
        secrets.add(key);
        for (const l of key.split('\n')) if (l.length > 40) secrets.add(l);
      }
    }
    expect([...secrets].filter((s) => s.includes('PRIVATE KEY')).length).toBeGreaterThanOrEqual(3);
    expect([...secrets].some((s) => s.split('.').length === 3 && s.length > 100)).toBe(true);
    const allowed = [
      'tenant',
      'seller_project',
      'connection_id',
      'attempt_id',
      'key_id',
      'channel_identifier',
      'oauth_request_id',
      'error_code',
    ];
    for (const b of bodies) {
      const ev = JSON.parse(b);
      expect(Object.keys(ev).sort()).toEqual(['created_at', 'data', 'id', 'type']);
      for (const k of Object.keys(ev.data)) expect(allowed).toContain(k);
      for (const v of Object.values(ev.data)) expect(typeof v).toBe('string');
      for (const s of secrets) expect(b).not.toContain(s);
      expect(b).not.toMatch(/PRIVATE KEY|_npsid|_nprtnetid|access_token/);
    }
    for (const e of await stack.store.listEvents({ tenant: 'tenant-meta' }))
      for (const s of secrets) expect(e.payload).not.toContain(s);
  });

  it(`${name}: a connector killed right after the commit at CONNECTED: a worker in a new process delivers the event`, async (ctx) => {
    if (!run) return ctx.skip();
    const r = await createReceiver();
    const a = await openStore(name);
    try {
      // The connector in the child uses this store with its own vault key and this sandbox client.
      // Never requested: the child hands the callback straight to its connector.
      const cb = 'http://127.0.0.1:9/connect/callback';
      const client = sb.addClient({
        client_id: `c-${randomBytes(4).toString('hex')}`,
        name: 'Crash connect',
        redirect_uris: [cb],
      });
      const p = newSeller();
      const child = runChild({
        mode: 'connect',
        store: a.config,
        secret: SECRET,
        sandboxUrl: sb.url,
        integratorKey: sb.fixtures.integrator.key!,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        callbackUrl: cb,
        masterKey: randomBytes(32).toString('base64'),
        endpoint: r.url,
        projectCode: p,
        tenant: 'tenant-crash',
      });
      const exit = await child.exit;
      expect(exit.signal).toBe('SIGKILL');
      const attemptId = /STEP CONNECTED ([0-9a-f-]{36})/.exec(child.out())?.[1];
      expect(attemptId).toBeDefined();
      expect((await a.store.getAttempt(attemptId!))?.status).toBe('CONNECTED');
      const [event] = (await a.store.listEvents({ tenant: 'tenant-crash' })).filter(
        (e) => e.type === 'connected',
      );
      expect(event).toBeDefined();
      expect(r.received).toHaveLength(0);

      const worker = runChild({ mode: 'worker', store: a.config, secret: SECRET });
      expect((await worker.exit).code).toBe(0);
      expect(delivered(worker)).toBe(1);
      expect(r.received).toHaveLength(1);
      const got = r.received[0]!;
      const body = JSON.parse(got.body);
      expect(body.id).toBe(event!.id);
      expect(body.type).toBe('connected');
      expect(body.data).toMatchObject({ tenant: 'tenant-crash', seller_project: p, attempt_id: attemptId });
      expect(verify(got.headers[SIGNATURE], got.body, SECRET, Math.floor(Date.now() / 1000))).toBe('ok');
      expect(sb.ledger.entries({ via: 'exchange' }).filter((e) => e.sellerProject === p)).toHaveLength(1);
    } finally {
      await r.close();
      await a.cleanup();
    }
  });
});

/** A store of the kind under test; `share` opens a second connection to the same database. */
async function openStore(
  kind: 'sqlite' | 'postgres',
  share?: { config: WebhookChildConfig['store'] },
): Promise<{ store: Store; config: WebhookChildConfig['store']; cleanup: () => Promise<void> }> {
  const { createPostgresStore, createSqliteStore } = await import('../../src/store/index.js');
  if (share) {
    const c = share.config;
    const store =
      c.kind === 'sqlite'
        ? await createSqliteStore({ database: c.file })
        : await createPostgresStore({ connection: c.url, schema: c.schema, max: 4 });
    return { store, config: c, cleanup: () => store.close() };
  }
  if (kind === 'sqlite') {
    const { store, file } = await freshSqlite();
    return { store, config: { kind: 'sqlite', file }, cleanup: () => store.close() };
  }
  const pg = await freshPostgres();
  return {
    store: pg.store,
    config: { kind: 'postgres', url: PG_URL, schema: pg.schema },
    cleanup: async () => {
      await pg.store.close();
      await pg.drop();
    },
  };
}
