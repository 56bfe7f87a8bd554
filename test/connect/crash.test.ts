// Persistence and crashes (P1–P5, P7): a connector in a child process is stopped at a named step and killed
// with SIGKILL, a fresh one starts on the same store, two reconcilers run at once, and then the sandbox's
// ledger must equal the stored keys plus the flagged orphans, no attempt may be left mid-way, and no secret may
// be on disk in plain text. The sandbox lives in the test process, so it outlives every kill.

import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { type ConnectChild, CrashBench, TcpRelay, useCrashSandbox } from '../helpers/crash-harness.js';
import { PG_URL, postgresAvailable } from '../helpers/stores.js';

const TEST_MS = 90_000;
/** Past every reconcile threshold the children use (at most 60 s), well inside an access token's hour. */
const PAST_THRESHOLDS_MS = 2 * 60_000;

let sb: Sandbox;
let bench: CrashBench;

// A fault a test armed but did not use must not reach the next test; each test's bench is closed after it.
useCrashSandbox((s) => {
  sb = s;
});

/** Kill, then a fresh connector on the same store after the clock passed the thresholds; two reconcilers at once. */
async function restartAndReconcile(b: CrashBench, killed: ConnectChild, portIndex = 0) {
  await killed.kill9();
  const { signal } = await killed.exited;
  expect(signal).toBe('SIGKILL');
  b.sb.clock.advance(PAST_THRESHOLDS_MS);
  const fresh = await b.spawn({ portIndex });
  const report = await b.reconcileTwice(fresh, 2);
  return { fresh, report };
}

for (const storeKind of ['sqlite', 'postgres'] as const) {
  const available = storeKind === 'sqlite' || (await postgresAvailable());

  describe.skipIf(!available)(`crashes and persistence (${storeKind})`, () => {
    it(
      'P1 store unavailable at the callback: 503 page, no token/create, the code stays unspent and works once the store is back',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        // SQLite: the connector's store is closed under it. Postgres: the network path to the server is cut.
        let relay: TcpRelay | undefined;
        let child: ConnectChild;
        if (storeKind === 'postgres') {
          const pgUrl = new URL(PG_URL);
          const r = new TcpRelay(pgUrl.hostname, Number(pgUrl.port || 5432));
          relay = r;
          bench.cleanups.push(() => r.cut());
          const port = await r.listen();
          pgUrl.host = `127.0.0.1:${port}`;
          child = await bench.spawn({
            store: { kind: 'postgres', url: pgUrl.toString(), schema: bench.schema! },
          });
        } else {
          child = await bench.spawn();
        }
        const { project } = bench.newSeller();
        const run = await bench.begin(child, { tenant: 'tenant-1', project });
        const mark = sb.journal.lastSeq;
        if (relay) await relay.cut();
        else await child.closeStore();

        const down = await bench.visit(run.browser, run.url, 'callback, store down');
        expect(down?.status).toBe(503);
        expect(down?.text).toContain('Nothing was sent to noon');
        expect(sb.journal.count({ endpoint: 'token.create', sinceSeq: mark })).toBe(0);
        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(0);
        expect(child.stdout()).toContain('store unavailable at callback');

        // A healthy connector on the same store: the very same code and state connect the seller.
        await child.kill9();
        const fresh = await bench.spawn();
        const again = await bench.visit(run.browser, run.url, 'callback, store back');
        expect(again?.status).toBe(303);
        expect(sb.journal.entries({ endpoint: 'token.create', sinceSeq: mark }).map((e) => e.status)).toEqual(
          [200],
        );
        const [conn] = await bench.store.listConnections({ tenant: 'tenant-1' });
        expect(conn?.sellerProject).toBe(project);

        sb.clock.advance(PAST_THRESHOLDS_MS);
        await bench.reconcileTwice(fresh, 2);
        const check = await bench.checkAtRest(project);
        expect(check.stored).toEqual([conn!.keyId]);
        expect(check.ledgerActive).toEqual([conn!.keyId]);
      },
      TEST_MS,
    );

    it(
      'P2a killed after TOKEN_ISSUED is committed, before EXCHANGE_SENT: the reconciler resumes the exchange; exactly one credential',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const child = await bench.spawn({ crash: { step: 'TOKEN_ISSUED', mode: 'self-kill' } });
        const { project } = bench.newSeller();
        const run = await bench.begin(child, { tenant: 'tenant-1', project });
        const mark = sb.journal.lastSeq;
        const torn = bench.visit(run.browser, run.url, 'callback, killed');
        const attemptId = await child.waitStep('TOKEN_ISSUED');
        expect(await torn).toBeNull();
        expect((await bench.store.getAttempt(attemptId))?.status).toBe('TOKEN_ISSUED');
        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(0);

        const { report } = await restartAndReconcile(bench, child);
        // Every reconciler may see the attempt; exactly one of them moves it on and connects the seller.
        expect(report.resumed).toBeGreaterThanOrEqual(1);
        expect(report.connected).toBe(1);
        const attempt = await bench.store.getAttempt(attemptId);
        expect(attempt?.status).toBe('CONNECTED');
        expect(attempt?.accessTokenSealed).toBeNull();
        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(1);
        const exchanged = sb.ledger.entries({ sellerProject: project, via: 'exchange' });
        expect(exchanged).toHaveLength(1);
        const check = await bench.checkAtRest(project);
        expect(check.stored).toEqual([exchanged[0]!.keyId]);
        expect(check.ledgerActive).toEqual([exchanged[0]!.keyId]);

        // The seller's refresh after the reconciler finished: "already connected", nothing upstream.
        const before = sb.journal.lastSeq;
        const refresh = await bench.visit(run.browser, run.url, 'refresh');
        expect(refresh?.status).toBe(200);
        expect(refresh?.text).toContain('Already connected');
        expect(sb.journal.entries({ sinceSeq: before }).filter((e) => e.endpoint !== 'admin')).toEqual([]);
      },
      TEST_MS,
    );

    it(
      'P2b killed after token/create answered, before TOKEN_ISSUED is committed: FAILED, the access token expires unused, nothing created upstream',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const child = await bench.spawn({ crash: { step: 'TOKEN_CREATED', mode: 'hang' } });
        const { project } = bench.newSeller();
        const run = await bench.begin(child, { tenant: 'tenant-1', project });
        const mark = sb.journal.lastSeq;
        const torn = bench.visit(run.browser, run.url, 'callback, killed');
        const attemptId = await child.waitStep('TOKEN_CREATED');
        expect((await bench.store.getAttempt(attemptId))?.status).toBe('CLAIMED');

        const { report } = await restartAndReconcile(bench, child);
        expect(await torn).toBeNull();
        expect(report.failed).toBe(1);
        const attempt = await bench.store.getAttempt(attemptId);
        expect(attempt?.status).toBe('FAILED');
        expect(attempt?.errorCode).toBe('INTERRUPTED');
        expect(attempt?.accessTokenSealed).toBeNull();

        // Upstream: one token was issued for this seller and never used; past its hour it is dead.
        const tokens = [...sb.world.tokens.values()].filter((t) => t.sellerProject === project);
        expect(tokens).toHaveLength(1);
        expect(tokens[0]!.usedAt).toBeUndefined();
        sb.clock.advance(60 * 60_000);
        expect(sb.clock.now()).toBeGreaterThanOrEqual(tokens[0]!.expiresAt);
        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(0);
        expect(sb.ledger.entries({ sellerProject: project })).toEqual([]);
        const check = await bench.checkAtRest(project);
        expect(check.stored).toEqual([]);
        expect(await bench.store.listConnections({ tenant: 'tenant-1' })).toEqual([]);
      },
      TEST_MS,
    );

    it(
      'P3 U8 killed after EXCHANGE_SENT, before the request left: orphan path, never CONNECTED without a key; the known service account is repaired (REPAIRED)',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const child = await bench.spawn({
          crash: { step: 'EXCHANGE_SENT', mode: 'hang', tenant: 'tenant-2' },
        });
        const { project } = bench.newSeller();
        // Another tenant connected this seller project first: the service account is known.
        await bench.connect(child, 'tenant-1', project);
        const run = await bench.begin(child, { tenant: 'tenant-2', project });
        const mark = sb.journal.lastSeq;
        const torn = bench.visit(run.browser, run.url, 'callback, killed');
        const attemptId = await child.waitStep('EXCHANGE_SENT');
        expect((await bench.store.getAttempt(attemptId))?.status).toBe('EXCHANGE_SENT');

        const { report } = await restartAndReconcile(bench, child);
        expect(await torn).toBeNull();
        expect(report.orphans).toBe(1);
        expect(report.repaired).toBe(1);
        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(0);
        expect(sb.journal.count({ endpoint: 'api_users.create', sinceSeq: mark })).toBe(1);
        const attempt = await bench.store.getAttempt(attemptId);
        expect(attempt?.status).toBe('REPAIRED');
        const conn = await bench.store.findConnection('tenant-2', project);
        expect(conn?.status).toBe('active');
        const check = await bench.checkAtRest(project);
        expect(check.flagged).toEqual([]);
        expect([...check.ledgerActive].sort()).toEqual([...check.stored].sort());
        expect(check.stored).toHaveLength(2);
        expect(check.stored).toContain(conn!.keyId);
      },
      TEST_MS,
    );

    it(
      'P3 U8 killed with the exchange processed upstream and its answer not stored: the orphan key is removed and a fresh one created (REPAIRED)',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const child = await bench.spawn({
          crash: { step: 'EXCHANGE_ANSWERED', mode: 'hang', tenant: 'tenant-2' },
        });
        const { project } = bench.newSeller();
        await bench.connect(child, 'tenant-1', project);
        const run = await bench.begin(child, { tenant: 'tenant-2', project });
        const mark = sb.journal.lastSeq;
        const torn = bench.visit(run.browser, run.url, 'callback, killed');
        const attemptId = await child.waitStep('EXCHANGE_ANSWERED');
        // Killed with a key upstream that only the dead process saw.
        const orphan = sb.ledger.entries({ sellerProject: project, via: 'exchange' }).at(-1)!;
        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(1);
        expect(bench.activeLedger(project)).toHaveLength(2);

        const { report } = await restartAndReconcile(bench, child);
        expect(await torn).toBeNull();
        expect(report.repaired).toBe(1);
        const attempt = await bench.store.getAttempt(attemptId);
        expect(attempt?.status).toBe('REPAIRED');
        expect(
          sb.ledger.entries({ sellerProject: project }).find((e) => e.keyId === orphan.keyId)?.removedAt,
        ).toBeDefined();
        const check = await bench.checkAtRest(project);
        expect(check.stored).not.toContain(orphan.keyId);
        expect(check.flagged).toEqual([]);
        expect([...check.ledgerActive].sort()).toEqual([...check.stored].sort());
        expect(check.stored).toHaveLength(2);
      },
      TEST_MS,
    );

    it(
      'P3 U8 killed with the exchange processed upstream, service account unknown: NEEDS_RECONNECT, flagged, never CONNECTED',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const child = await bench.spawn({ crash: { step: 'EXCHANGE_ANSWERED', mode: 'hang' } });
        const { project } = bench.newSeller();
        const run = await bench.begin(child, { tenant: 'tenant-1', project });
        const torn = bench.visit(run.browser, run.url, 'callback, killed');
        const attemptId = await child.waitStep('EXCHANGE_ANSWERED');

        const { report } = await restartAndReconcile(bench, child);
        expect(await torn).toBeNull();
        expect(report.needsReconnect).toBe(1);
        const attempt = await bench.store.getAttempt(attemptId);
        expect(attempt?.status).toBe('NEEDS_RECONNECT');
        expect(await bench.store.listConnections({ tenant: 'tenant-1' })).toEqual([]);
        const check = await bench.checkAtRest(project);
        expect(check.stored).toEqual([]);
        expect(check.unknown).toHaveLength(1);
        expect(check.flagged.map((a) => a.id)).toEqual([attemptId]);

        // The seller's refresh never shows "connected": it says the connection did not finish, start again.
        const before = sb.journal.lastSeq;
        const refresh = await bench.visit(run.browser, run.url, 'refresh');
        expect(refresh?.status).toBe(400);
        expect(refresh?.text).toContain('Start the connection again');
        expect(refresh?.text).not.toMatch(/already connected/i);
        expect(sb.journal.entries({ sinceSeq: before }).filter((e) => e.endpoint !== 'admin')).toEqual([]);
      },
      TEST_MS,
    );

    it(
      'P4 killed after KEY_STORED, before the HTTP response: the seller refreshing the same callback URL with the same cookie sees connected',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const child = await bench.spawn({ crash: { step: 'KEY_STORED', mode: 'hang' } });
        const { project } = bench.newSeller();
        const run = await bench.begin(child, { tenant: 'tenant-1', project });
        const torn = bench.visit(run.browser, run.url, 'callback, killed');
        const attemptId = await child.waitStep('KEY_STORED');
        await child.kill9();
        expect(await torn).toBeNull();
        const stored = await bench.store.getAttempt(attemptId);
        expect(stored?.status).toBe('KEY_STORED');
        expect(stored?.rawExchangeSealed).not.toBeNull();

        // The same URL and cookie against a restarted connector on the same port.
        const fresh = await bench.spawn();
        const mark = sb.journal.lastSeq;
        const refresh = await bench.visit(run.browser, run.url, 'refresh');
        expect(refresh?.status).toBe(303);
        expect(refresh?.location).toBe(`/connect/done/${attemptId}`);
        const done = await bench.visit(run.browser, `${fresh.origin}${refresh!.location}`, 'done page');
        expect(done?.status).toBe(200);
        expect(done?.text).toContain('Connected');
        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(0);
        expect(sb.journal.count({ endpoint: 'token.create', sinceSeq: mark })).toBe(0);

        sb.clock.advance(PAST_THRESHOLDS_MS);
        await bench.reconcileTwice(fresh, 2);
        const attempt = await bench.store.getAttempt(attemptId);
        expect(attempt?.status).toBe('CONNECTED');
        expect(attempt?.rawExchangeSealed).toBeNull();
        const check = await bench.checkAtRest(project);
        expect(check.stored).toHaveLength(1);
        expect(check.ledgerActive).toEqual(check.stored);
      },
      TEST_MS,
    );

    it(
      `P5 disk full on the key commit (${storeKind === 'sqlite' ? 'PRAGMA max_page_count' : 'a trigger that raises'}): rolled back, orphan path, never marked stored`,
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const { project } = bench.newSeller();
        const healthy = await bench.spawn();
        await bench.connect(healthy, 'tenant-1', project);
        await healthy.kill9();

        let child: ConnectChild;
        if (storeKind === 'sqlite') {
          // The cap is set on the connector's own connection just before the exchange; padding the answer
          // (an unknown field, ignored) makes its commit need pages the capped file cannot have.
          child = await bench.spawn({ diskFullAt: 'EXCHANGE_SENT' });
          sb.addFault({
            endpoint: 'token.exchange',
            action: { type: 'mutate', set: { padding: 'p'.repeat(64 * 1024) } },
            times: 1,
          });
        } else {
          child = await bench.spawn();
          await bench.pgExec(`
            CREATE FUNCTION nc_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'disk full'; END $$;
            CREATE TRIGGER nc_test_disk_full BEFORE UPDATE ON nc_attempts FOR EACH ROW
              WHEN (NEW.raw_exchange_sealed IS NOT NULL) EXECUTE FUNCTION nc_test_disk_full();`);
        }
        const run = await bench.begin(child, { tenant: 'tenant-2', project });
        const mark = sb.journal.lastSeq;
        const page = await bench.visit(run.browser, run.url, 'callback, disk full');
        if (storeKind === 'sqlite') expect(child.stdout()).toMatch(/^DISKFULL \d+ \d+$/m);
        else await bench.pgExec('DROP TRIGGER nc_test_disk_full ON nc_attempts');
        expect(child.stdout()).toContain('could not store the exchange answer');
        // The exchange went through upstream, the commit did not: the page never says connected.
        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(1);
        const exchanged = sb.ledger.entries({ sellerProject: project, via: 'exchange' }).at(-1)!;
        expect(page?.status).not.toBe(303);
        const [attempt] = (await bench.attemptsFor(project)).filter((a) => a.tenant === 'tenant-2');
        expect(attempt!.status).not.toBe('CONNECTED');
        // The exchange answer was never kept: whatever the attempt holds is at most a key its own orphan repair
        // created (and could not finish on the full store).
        expect(await bench.sealedBodyKeyId(attempt!)).not.toBe(exchanged.keyId);
        if (attempt!.status === 'KEY_STORED') expect(attempt!.kind).toBe('repair');
        expect(await bench.credentialsFor(project)).toHaveLength(1);

        const { report } = await restartAndReconcile(bench, child);
        // Finished by exactly one reconciler: as a repair from the orphan flag, or (when the repair's key was
        // stored before the full store stopped it) from KEY_STORED.
        expect(report.repaired + report.connected).toBe(1);
        expect((await bench.store.getAttempt(attempt!.id))?.status).toBe('REPAIRED');
        const check = await bench.checkAtRest(project);
        expect(check.stored).not.toContain(exchanged.keyId);
        expect(check.flagged).toEqual([]);
        expect([...check.ledgerActive].sort()).toEqual([...check.stored].sort());
        expect(check.stored).toHaveLength(2);
      },
      TEST_MS,
    );

    it(
      'P7 killed between storing the new key and removing the old one on rotation: two valid keys, never zero; the reconciler removes the old one; at most 5 keys',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const child = await bench.spawn({ crash: { step: 'ROTATION_KEY_STORED', mode: 'hang' } });
        const { project } = bench.newSeller();
        await bench.connect(child, 'tenant-1', project);
        const before = (await bench.store.findConnection('tenant-1', project))!;
        const oldKey = before.keyId!;

        const rotation = child.rotate(before.id).catch(() => null);
        await child.waitStep('ROTATION_KEY_STORED');
        await child.kill9();
        expect(await rotation).toBeNull();
        // Two valid keys upstream, both held by the store: the new one active, the old one retiring.
        const active = bench.activeLedger(project).map((e) => e.keyId);
        expect(active).toHaveLength(2);
        expect(active).toContain(oldKey);
        const creds = await bench.credentialsFor(project);
        expect(creds.map((c) => [c.keyId, c.state]).sort()).toEqual(
          active.map((k) => [k, k === oldKey ? 'retiring' : 'active']).sort(),
        );
        const after = (await bench.store.findConnection('tenant-1', project))!;
        expect(after.keyId).not.toBe(oldKey);
        expect(active).toContain(after.keyId);
        // Both are valid: each logs in as the seller's service account.
        for (const c of creds) expect((await bench.whoami(c)).keyId).toBe(c.keyId);

        const { report } = await restartAndReconcile(bench, child);
        expect(report.retiredKeys).toBe(1);
        const check = await bench.checkAtRest(project);
        expect(check.ledgerActive).toEqual([after.keyId]);
        expect(check.stored).toEqual([after.keyId]);
        const removed = await bench.store.listCredentials({ sellerProject: project, states: ['removed'] });
        expect(removed.map((c) => c.keyId)).toEqual([oldKey]);
        expect(sb.ledger.entries({ sellerProject: project }).length).toBeLessThanOrEqual(5);
      },
      TEST_MS,
    );
  });
}
