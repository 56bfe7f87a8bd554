// One behaviour suite for every Store backend: SQLite and Postgres run the same cases.

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEvent, SqlStore } from '../../src/store/index.js';
import { STORE_TARGETS } from '../helpers/stores.js';

const T0 = 1_800_000_000_000;

function attempt(
  over: Partial<{ tenant: string; stateHash: string; expiresAt: number; createdAt: number }> = {},
) {
  return {
    id: randomUUID(),
    tenant: over.tenant ?? 'tenant-a',
    stateHash: over.stateHash ?? randomUUID(),
    environment: 'sandbox',
    returnTo: '/done',
    createdAt: over.createdAt ?? T0,
    expiresAt: over.expiresAt ?? T0 + 600_000,
  };
}

function event(type: string, endpoints: string[] = []): NewEvent {
  return {
    id: randomUUID(),
    type,
    tenant: 'tenant-a',
    connectionId: null,
    attemptId: null,
    payload: '{}',
    createdAt: T0,
    endpoints,
  };
}

async function toKeyStored(store: SqlStore, tenant = 'tenant-a', project = 'PRJ1') {
  const a = attempt({ tenant });
  await store.createAttempt(a);
  expect((await store.claimAttempt(a.stateHash, T0 + 1)).outcome).toBe('claimed');
  expect(
    await store.transition(
      a.id,
      'CLAIMED',
      'TOKEN_ISSUED',
      { sellerProject: project, accessTokenSealed: 'sealed-token' },
      T0 + 2,
    ),
  ).toBe(true);
  expect(await store.transition(a.id, 'TOKEN_ISSUED', 'EXCHANGE_SENT', { exchangeSends: 1 }, T0 + 3)).toBe(
    true,
  );
  expect(await store.storeExchangeBody(a.id, 'sealed-body', T0 + 4)).toBe(true);
  return a;
}

function credential(tenant: string, project: string, keyId: string = randomUUID()) {
  return {
    id: randomUUID(),
    connectionId: '',
    tenant,
    sellerProject: project,
    keyId,
    channelIdentifier: `acct@p1.idp`,
    sealed: `sealed-${keyId}`,
    createdAt: T0,
  };
}

for (const target of STORE_TARGETS) {
  const available = await target.available();
  describe.skipIf(!available)(`store conformance: ${target.name}`, () => {
    let store: SqlStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ store, cleanup } = await target.open());
    });
    afterAll(async () => {
      await cleanup?.();
    });

    it('migrate is idempotent and the store answers ping', async () => {
      await store.migrate();
      await store.migrate();
      await store.ping();
    });

    it('meta: setMetaIfAbsent keeps the first value even when racing', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.setMetaIfAbsent('fp', `v${i}`)),
      );
      expect(new Set(results).size).toBe(1);
      expect(await store.getMeta('fp')).toBe(results[0]);
      await store.setMeta('fp', 'changed');
      expect(await store.getMeta('fp')).toBe('changed');
      expect(await store.getMeta('missing')).toBeUndefined();
    });

    it('S5 20 parallel claims of one state: exactly one is claimed, the rest see it consumed', async () => {
      const a = attempt();
      await store.createAttempt(a);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.claimAttempt(a.stateHash, T0 + 10)),
      );
      expect(results.filter((r) => r.outcome === 'claimed')).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'consumed')).toHaveLength(19);
      const got = await store.getAttempt(a.id);
      expect(got?.status).toBe('CLAIMED');
      expect(got?.consumedAt).toBe(T0 + 10);
    });

    it('S4 a state past its expiry is consumed as expired; an unknown state is unknown', async () => {
      const a = attempt({ expiresAt: T0 + 100 });
      await store.createAttempt(a);
      const r = await store.claimAttempt(a.stateHash, T0 + 100);
      expect(r.outcome).toBe('expired');
      expect((await store.getAttempt(a.id))?.status).toBe('FAILED');
      expect((await store.getAttempt(a.id))?.errorCode).toBe('STATE_EXPIRED');
      expect((await store.claimAttempt('never-issued', T0)).outcome).toBe('unknown');
    });

    it('a duplicate state hash is refused', async () => {
      const a = attempt();
      await store.createAttempt(a);
      await expect(store.createAttempt({ ...attempt(), stateHash: a.stateHash })).rejects.toThrow();
    });

    it('transition is compare-and-set: of 10 racing moves from one status exactly one wins', async () => {
      const a = attempt();
      await store.createAttempt(a);
      await store.claimAttempt(a.stateHash, T0 + 1);
      const wins = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.transition(a.id, 'CLAIMED', 'TOKEN_ISSUED', { sellerProject: `P${i}` }, T0 + 2),
        ),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      const got = await store.getAttempt(a.id);
      expect(got?.status).toBe('TOKEN_ISSUED');
      expect(got?.sellerProject).toMatch(/^P\d$/);
      await expect(
        store.transition(a.id, 'TOKEN_ISSUED', 'FAILED', { nope: 1 } as never, T0),
      ).rejects.toThrow(/unknown attempt field/);
    });

    it('transition commits its events and their delivery rows with it', async () => {
      const a = attempt();
      await store.createAttempt(a);
      await store.claimAttempt(a.stateHash, T0 + 1);
      const e = event('failed', ['http://hook.invalid/a', 'http://hook.invalid/b']);
      expect(
        await store.transition(a.id, 'CLAIMED', 'FAILED', { errorCode: 'X' }, T0 + 2, { events: [e] }),
      ).toBe(true);
      expect((await store.listEvents({ limit: 1000 })).some((x) => x.id === e.id)).toBe(true);
      expect(await store.listDeliveries({ eventId: e.id })).toHaveLength(2);
      // A losing compare-and-set writes no event.
      const e2 = event('failed', ['http://hook.invalid/a']);
      expect(await store.transition(a.id, 'CLAIMED', 'FAILED', {}, T0 + 3, { events: [e2] })).toBe(false);
      expect((await store.listEvents({ limit: 1000 })).some((x) => x.id === e2.id)).toBe(false);
    });

    it('storeExchangeBody moves only EXCHANGE_SENT to KEY_STORED and drops the access token', async () => {
      const a = attempt();
      await store.createAttempt(a);
      await store.claimAttempt(a.stateHash, T0 + 1);
      expect(await store.storeExchangeBody(a.id, 'body', T0 + 2)).toBe(false);
      await store.transition(a.id, 'CLAIMED', 'TOKEN_ISSUED', { accessTokenSealed: 'tok' }, T0 + 2);
      await store.transition(a.id, 'TOKEN_ISSUED', 'EXCHANGE_SENT', {}, T0 + 3);
      expect(await store.storeExchangeBody(a.id, 'body', T0 + 4)).toBe(true);
      const got = await store.getAttempt(a.id);
      expect(got?.status).toBe('KEY_STORED');
      expect(got?.rawExchangeSealed).toBe('body');
      expect(got?.accessTokenSealed).toBeNull();
      expect(await store.storeExchangeBody(a.id, 'again', T0 + 5)).toBe(false);
    });

    it('one exchange slot per (tenant, seller project): 10 racing takers, one winner; release by owner only', async () => {
      const ids = Array.from({ length: 10 }, () => randomUUID());
      const wins = await Promise.all(ids.map((id) => store.takeExchangeSlot('tenant-s', 'PRJS', id, T0)));
      expect(wins.filter(Boolean)).toHaveLength(1);
      const owner = ids[wins.indexOf(true)]!;
      expect(await store.takeExchangeSlot('tenant-s', 'PRJS', owner, T0)).toBe(true);
      expect((await store.getExchangeSlot('tenant-s', 'PRJS'))?.attemptId).toBe(owner);
      await store.releaseExchangeSlot('tenant-s', 'PRJS', ids.find((i) => i !== owner)!);
      expect((await store.getExchangeSlot('tenant-s', 'PRJS'))?.attemptId).toBe(owner);
      await store.releaseExchangeSlot('tenant-s', 'PRJS', owner);
      expect(await store.getExchangeSlot('tenant-s', 'PRJS')).toBeUndefined();
      expect(await store.takeExchangeSlot('tenant-other', 'PRJS', randomUUID(), T0)).toBe(true);
    });

    it('connect creates the connection and its active credential atomically; a reconnect retires the old one', async () => {
      const a = await toKeyStored(store, 'tenant-c', 'PRJC');
      const cred = credential('tenant-c', 'PRJC', 'key-1');
      const connId = randomUUID();
      const e = event('connected', ['http://hook.invalid/c']);
      const r = await store.connect({
        attemptId: a.id,
        connectionId: connId,
        credential: cred,
        userCode: 'usr_1',
        oauthRequestId: 'req-1',
        now: T0 + 5,
        events: [e],
      });
      expect(r?.connection.id).toBe(connId);
      expect(r?.connection.keyId).toBe('key-1');
      expect(r?.connection.status).toBe('active');
      expect(r?.previous).toBeUndefined();
      expect((await store.getAttempt(a.id))?.status).toBe('CONNECTED');
      expect((await store.listEvents({ connectionId: connId })).map((x) => x.id)).toContain(e.id);
      // Connecting the same attempt twice does nothing.
      expect(
        await store.connect({
          attemptId: a.id,
          connectionId: connId,
          credential: credential('tenant-c', 'PRJC'),
          userCode: null,
          oauthRequestId: null,
          now: T0 + 6,
        }),
      ).toBeUndefined();
      // A reconnect of the same seller project keeps the record and retires the old credential.
      const b = await toKeyStored(store, 'tenant-c', 'PRJC');
      const r2 = await store.connect({
        attemptId: b.id,
        connectionId: randomUUID(),
        credential: credential('tenant-c', 'PRJC', 'key-2'),
        userCode: null,
        oauthRequestId: 'req-2',
        now: T0 + 7,
      });
      expect(r2?.connection.id).toBe(connId);
      expect(r2?.connection.userCode).toBe('usr_1');
      expect(r2?.previous?.keyId).toBe('key-1');
      expect((await store.getAttempt(b.id))?.connectionId).toBe(connId);
      const creds = await store.listCredentials({ connectionId: connId });
      expect(creds.map((c) => [c.keyId, c.state]).sort()).toEqual([
        ['key-1', 'retiring'],
        ['key-2', 'active'],
      ]);
      expect(await store.listConnections({ tenant: 'tenant-c' })).toHaveLength(1);
      expect((await store.findConnection('tenant-c', 'PRJC'))?.keyId).toBe('key-2');
    });

    it('markCredentialRemoved and updateConnection', async () => {
      const a = await toKeyStored(store, 'tenant-d', 'PRJD');
      const connId = randomUUID();
      await store.connect({
        attemptId: a.id,
        connectionId: connId,
        credential: credential('tenant-d', 'PRJD', 'k1'),
        userCode: null,
        oauthRequestId: null,
        now: T0,
      });
      const b = await toKeyStored(store, 'tenant-d', 'PRJD');
      await store.connect({
        attemptId: b.id,
        connectionId: connId,
        credential: credential('tenant-d', 'PRJD', 'k2'),
        userCode: null,
        oauthRequestId: null,
        now: T0 + 1,
      });
      const [old] = await store.listCredentials({ connectionId: connId, states: ['retiring'] });
      expect(old?.keyId).toBe('k1');
      expect(await store.markCredentialRemoved(old!.id, T0 + 2)).toBe(true);
      expect(await store.markCredentialRemoved(old!.id, T0 + 3)).toBe(false);
      expect((await store.getCredential(old!.id))?.removedAt).toBe(T0 + 2);
      expect(
        await store.updateConnection(
          connId,
          { lastHealthAt: T0 + 4, lastHealthOk: true, lastHealthDetail: 'ok' },
          T0 + 4,
        ),
      ).toBe(true);
      const c = await store.getConnection(connId);
      expect(c?.lastHealthOk).toBe(true);
      expect(c?.keyId).toBe('k2');
      expect(await store.updateConnection(connId, { status: 'disconnected' }, T0 + 5)).toBe(true);
      expect((await store.listConnections({ status: 'disconnected' })).map((x) => x.id)).toContain(connId);
    });

    it('listAttempts filters by status, age and tenant', async () => {
      const a = attempt({ tenant: 'tenant-l', createdAt: T0 - 10_000 });
      await store.createAttempt(a);
      const found = await store.listAttempts({
        statuses: ['STARTED'],
        tenant: 'tenant-l',
        updatedBefore: T0,
      });
      expect(found.map((x) => x.id)).toEqual([a.id]);
      expect(
        await store.listAttempts({ statuses: ['STARTED'], tenant: 'tenant-l', updatedBefore: T0 - 20_000 }),
      ).toEqual([]);
    });

    it('sealed values are listed page by page and replaced by compare-and-set', async () => {
      const a = attempt({ tenant: 'tenant-w' });
      await store.createAttempt(a);
      await store.claimAttempt(a.stateHash, T0 + 1);
      await store.transition(
        a.id,
        'CLAIMED',
        'TOKEN_ISSUED',
        { sellerProject: 'PRJW', accessTokenSealed: 'ncv1.v1.tok' },
        T0 + 2,
      );
      await store.setMeta('connect.state-key', 'ncv1.v1.key');
      const all: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.listSealedValues({ ...(after ? { after } : {}), limit: 2 });
        if (page.length === 0) break;
        all.push(...page.map((v) => v.key));
        after = page[page.length - 1]!.key;
      }
      expect(all).toContain(`attempt.access_token|${a.id}`);
      expect(all).toContain('meta|connect.state-key');
      expect(new Set(all).size).toBe(all.length);
      const v = { column: 'attempt.access_token' as const, id: a.id };
      expect(await store.replaceSealed(v, 'ncv1.v1.other', 'ncv1.v2.tok')).toBe(false);
      expect(await store.replaceSealed(v, 'ncv1.v1.tok', 'ncv1.v2.tok')).toBe(true);
      expect((await store.getAttempt(a.id))?.accessTokenSealed).toBe('ncv1.v2.tok');
    });

    it('deliveries: racing leasers each get a delivery once; complete and fail with back-off', async () => {
      const events = Array.from({ length: 6 }, () => event('connected', ['http://hook.invalid/lease']));
      await store.appendEvents(events);
      const leases = await Promise.all(
        Array.from({ length: 4 }, () => store.leaseDueDeliveries(T0 + 1, 30_000, 100)),
      );
      const leased = leases.flat().filter((d) => d.endpoint === 'http://hook.invalid/lease');
      expect(leased.map((d) => d.eventId).sort()).toEqual(events.map((e) => e.id).sort());
      expect(leased.every((d) => d.event.type === 'connected')).toBe(true);
      // Leased rows are not handed out again until the lease ends.
      expect(
        (await store.leaseDueDeliveries(T0 + 2, 30_000, 100)).filter(
          (d) => d.endpoint === 'http://hook.invalid/lease',
        ),
      ).toEqual([]);
      await store.completeDelivery(events[0]!.id, 'http://hook.invalid/lease', 204, T0 + 3);
      await store.failDelivery(events[1]!.id, 'http://hook.invalid/lease', 503, 'unavailable', T0 + 60_000);
      const later = (await store.leaseDueDeliveries(T0 + 40_000, 30_000, 100)).filter(
        (d) => d.endpoint === 'http://hook.invalid/lease',
      );
      expect(later.map((d) => d.eventId).sort()).toEqual(
        events
          .slice(2)
          .map((e) => e.id)
          .sort(),
      );
      const retried = (await store.leaseDueDeliveries(T0 + 60_000, 30_000, 100)).filter(
        (d) => d.eventId === events[1]!.id,
      );
      expect(retried).toHaveLength(1);
      expect(retried[0]!.attempts).toBe(1);
      expect(retried[0]!.lastStatus).toBe(503);
      const done = await store.listDeliveries({ pending: false, eventId: events[0]!.id });
      expect(done[0]?.deliveredAt).toBe(T0 + 3);
    });

    it('H3 counters: 20 racing hits of one window count 20, each name and window apart; read without hitting', async () => {
      const name = `limit:${randomUUID()}`;
      const counts = await Promise.all(
        Array.from({ length: 20 }, () => store.hitCounter(name, T0, T0 + 60_000)),
      );
      // Every hit saw a different count: no two callers (of any instance) share one.
      expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await store.readCounter(name, T0)).toBe(20);
      expect(await store.readCounter(name, T0 + 60_000)).toBe(0);
      expect(await store.hitCounter(name, T0 + 60_000, T0 + 120_000)).toBe(1);
      expect(await store.hitCounter(`${name}:other`, T0, T0 + 60_000, 5)).toBe(5);
      expect(await store.readCounter(name, T0)).toBe(20);
    });

    it('H8 resolveAttempt drops the kept raw answer of a NEEDS_ATTENTION attempt, once, and of no other', async () => {
      const held = await toKeyStored(store, 'tenant-r', 'PRJR');
      expect(await store.resolveAttempt(held.id, 'operator', T0 + 5)).toBe(false);
      expect(await store.transition(held.id, 'KEY_STORED', 'NEEDS_ATTENTION', {}, T0 + 5)).toBe(true);
      expect((await store.countAttempts(['NEEDS_ATTENTION'], { unresolved: true })) > 0).toBe(true);
      expect(await store.resolveAttempt(held.id, 'key-removed', T0 + 6)).toBe(true);
      const after = (await store.getAttempt(held.id))!;
      expect(after).toMatchObject({
        status: 'NEEDS_ATTENTION',
        rawExchangeSealed: null,
        resolvedAt: T0 + 6,
        resolution: 'key-removed',
      });
      expect(await store.resolveAttempt(held.id, 'operator', T0 + 7)).toBe(false);
      expect((await store.getAttempt(held.id))?.resolution).toBe('key-removed');
      const unresolved = await store.listAttempts({ statuses: ['NEEDS_ATTENTION'], unresolved: true });
      expect(unresolved.map((a) => a.id)).not.toContain(held.id);
      expect((await store.listAttempts({ statuses: ['NEEDS_ATTENTION'] })).map((a) => a.id)).toContain(
        held.id,
      );
    });

    it('H3 H8 purge removes in bounded batches only old ended attempts without sealed values, delivered deliveries, events nothing needs and expired counters', async () => {
      // Far older than every other row of this file, so the cut-off below touches only these.
      const OLD = T0 - 100 * 365 * 86_400_000;
      const cut = OLD + 1000;
      const ended = async (status: 'FAILED' | 'CONNECTED', at: number) => {
        const a = attempt({ tenant: 'tenant-p', createdAt: at, expiresAt: at + 600_000 });
        await store.createAttempt(a);
        await store.claimAttempt(a.stateHash, at);
        expect(await store.transition(a.id, 'CLAIMED', status, {}, at)).toBe(true);
        return a.id;
      };
      const old = [] as string[];
      for (let i = 0; i < 5; i++) old.push(await ended(i % 2 ? 'FAILED' : 'CONNECTED', OLD + i));
      const fresh = await ended('FAILED', cut + 10);
      // An old attempt still in flight, and an old one holding a key's answer for an operator, stay.
      const live = attempt({ tenant: 'tenant-p', createdAt: OLD, expiresAt: OLD + 600_000 });
      await store.createAttempt(live);
      const kept = attempt({ tenant: 'tenant-p', createdAt: OLD, expiresAt: OLD + 600_000 });
      await store.createAttempt(kept);
      await store.claimAttempt(kept.stateHash, OLD);
      await store.transition(kept.id, 'CLAIMED', 'TOKEN_ISSUED', { sellerProject: 'PRJP' }, OLD);
      await store.transition(kept.id, 'TOKEN_ISSUED', 'EXCHANGE_SENT', {}, OLD);
      await store.storeExchangeBody(kept.id, 'sealed-kept', OLD);
      await store.transition(kept.id, 'KEY_STORED', 'NEEDS_ATTENTION', {}, OLD);

      const oldEvent = (endpoints: string[]) => ({ ...event('connected', endpoints), createdAt: OLD });
      const delivered = oldEvent(['http://hook.invalid/p1']);
      const pending = oldEvent(['http://hook.invalid/p2']);
      const bare = oldEvent([]);
      await store.appendEvents([delivered, pending, bare]);
      await store.completeDelivery(delivered.id, 'http://hook.invalid/p1', 200, OLD + 1);
      const counter = `link:${randomUUID()}`;
      await store.hitCounter(counter, 0, OLD + 5);

      const counts = await store.retentionCounts(cut);
      expect(counts.purgeable).toEqual({ attempts: 5, events: 1, deliveries: 1 });
      expect(counts.heldAnswers).toBeGreaterThanOrEqual(1);

      // Batches of 2: three rounds for the five attempts, each removing at most 2 rows of each table.
      const rounds = [];
      for (;;) {
        const r = await store.purge({ before: cut, now: OLD + 10, limit: 2 });
        rounds.push(r);
        if (r.attempts + r.events + r.deliveries + r.counters === 0) break;
      }
      for (const r of rounds) for (const n of Object.values(r)) expect(n).toBeLessThanOrEqual(2);
      expect(rounds.reduce((n, r) => n + r.attempts, 0)).toBe(5);
      for (const id of old) expect(await store.getAttempt(id)).toBeUndefined();
      expect(await store.getAttempt(fresh)).toBeDefined();
      expect((await store.getAttempt(live.id))?.status).toBe('STARTED');
      expect((await store.getAttempt(kept.id))?.rawExchangeSealed).toBe('sealed-kept');
      const events = (await store.listEvents({ limit: 10_000 })).map((e) => e.id);
      expect(events).not.toContain(delivered.id);
      expect(events).not.toContain(bare.id);
      expect(events).toContain(pending.id);
      expect(await store.listDeliveries({ eventId: delivered.id })).toEqual([]);
      expect(await store.listDeliveries({ eventId: pending.id })).toHaveLength(1);
      expect(await store.readCounter(counter, 0)).toBe(0);

      // Resolved, the kept attempt's answer is gone and the attempt is retention's like any other.
      // The resolution is an update: the attempt's age counts from it.
      expect(await store.resolveAttempt(kept.id, 'operator', cut + 20)).toBe(true);
      expect((await store.retentionCounts(cut)).purgeable.attempts).toBe(0);
      expect((await store.retentionCounts(cut + 21)).purgeable.attempts).toBe(2); // with `fresh`
      await store.purge({ before: cut + 21, now: cut + 21, limit: 10 });
      expect(await store.getAttempt(kept.id)).toBeUndefined();
    });
    it('admin sessions: found by hash until expiry or revocation; one flash per take', async () => {
      const idHash = `h-${randomUUID()}`;
      await store.createSession({ idHash, createdAt: T0, expiresAt: T0 + 1000 });
      expect((await store.getSession(idHash, T0 + 1))?.expiresAt).toBe(T0 + 1000);
      expect(await store.getSession(idHash, T0 + 1000)).toBeUndefined();
      expect(await store.getSession('h-unknown', T0)).toBeUndefined();
      await store.setSessionFlash(idHash, '{"text":"one"}');
      const takes = await Promise.all([store.takeSessionFlash(idHash), store.takeSessionFlash(idHash)]);
      expect(takes.filter((t) => t !== undefined)).toEqual(['{"text":"one"}']);
      expect(await store.revokeSession(idHash, T0 + 2)).toBe(true);
      expect(await store.revokeSession(idHash, T0 + 3)).toBe(false);
      expect(await store.getSession(idHash, T0 + 4)).toBeUndefined();
      expect(await store.purgeServiceState({ now: T0, auditBefore: 0, limit: 10 })).toBeGreaterThanOrEqual(1);
    });

    it('API tokens: by hash and prefix, listed by tenant, revoked once, last use recorded at most so often', async () => {
      const prefix = `nct_${randomUUID().slice(0, 8)}`;
      const rec = {
        prefix,
        hash: `hash-${randomUUID()}`,
        name: 'billing',
        tenant: 'tenant-tok',
        createdAt: T0,
        createdBy: 'cli',
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: null,
      };
      await store.createApiToken(rec);
      expect(await store.findApiToken(rec.hash)).toEqual(rec);
      expect(await store.getApiToken(prefix)).toEqual(rec);
      expect((await store.listApiTokens({ tenant: 'tenant-tok' })).map((t) => t.prefix)).toEqual([prefix]);
      await store.touchApiToken(prefix, T0 + 100, 60_000);
      await store.touchApiToken(prefix, T0 + 200, 60_000);
      expect((await store.getApiToken(prefix))?.lastUsedAt).toBe(T0 + 100);
      await store.touchApiToken(prefix, T0 + 60_100, 60_000);
      expect((await store.getApiToken(prefix))?.lastUsedAt).toBe(T0 + 60_100);
      const revokes = await Promise.all([
        store.revokeApiToken(prefix, T0 + 5),
        store.revokeApiToken(prefix, T0 + 6),
      ]);
      expect(revokes.filter(Boolean)).toHaveLength(1);
      expect((await store.findApiToken(rec.hash))?.revokedAt).not.toBeNull();
    });

    it('audit log: newest first, filtered by tenant and connection', async () => {
      const conn = `conn-${randomUUID()}`;
      for (let i = 0; i < 3; i++)
        await store.appendAudit({
          id: randomUUID(),
          at: T0 + i,
          actor: 'token:nct_x',
          action: i === 2 ? 'rotate' : 'health-check',
          tenant: 'tenant-audit',
          connectionId: conn,
          outcome: '200',
          detail: null,
        });
      const rows = await store.listAudit({ connectionId: conn });
      expect(rows.map((r) => r.at)).toEqual([T0 + 2, T0 + 1, T0]);
      expect(rows[0]?.action).toBe('rotate');
      expect(await store.listAudit({ tenant: 'tenant-none' })).toEqual([]);
    });

    it('leases: one owner at a time, renewable by it, free once expired or released', async () => {
      const name = `lease-${randomUUID()}`;
      const takes = await Promise.all(
        ['a', 'b', 'c', 'd'].map((owner) =>
          store.tryLease(name, owner, T0, 1000).then((ok) => (ok ? owner : '')),
        ),
      );
      const winners = takes.filter(Boolean);
      expect(winners).toHaveLength(1);
      const owner = winners[0]!;
      const other = owner === 'a' ? 'b' : 'a';
      expect(await store.tryLease(name, other, T0 + 999, 1000)).toBe(false);
      expect(await store.tryLease(name, owner, T0 + 500, 1000)).toBe(true);
      expect(await store.tryLease(name, other, T0 + 1499, 1000)).toBe(false);
      expect(await store.tryLease(name, other, T0 + 1500, 1000)).toBe(true);
      await store.releaseLease(name, owner);
      expect(await store.tryLease(name, owner, T0 + 1600, 1000)).toBe(false);
      await store.releaseLease(name, other);
      expect(await store.tryLease(name, owner, T0 + 1600, 1000)).toBe(true);
    });

    it('needs_reconnect: only an active connection on that key moves, with its event, once', async () => {
      const a = await toKeyStored(store, 'tenant-nr', 'PRJNR');
      const connId = randomUUID();
      const r = await store.connect({
        attemptId: a.id,
        connectionId: connId,
        credential: credential('tenant-nr', 'PRJNR', 'key-nr'),
        userCode: null,
        oauthRequestId: null,
        now: T0 + 5,
      });
      expect(r?.connection.status).toBe('active');
      expect(await store.markNeedsReconnect(connId, 'key-other', T0 + 6, [event('needs_reconnect')])).toBe(
        false,
      );
      const moves = await Promise.all(
        [0, 1].map(() =>
          store.markNeedsReconnect(connId, 'key-nr', T0 + 7, [event('needs_reconnect', ['http://h'])]),
        ),
      );
      expect(moves.filter(Boolean)).toHaveLength(1);
      expect((await store.getConnection(connId))?.status).toBe('needs_reconnect');
    });
  });
}
