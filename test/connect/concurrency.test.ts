// Concurrency (P6, and the reconciler run twice at once): two tabs connecting one seller at once, in one
// connector process and across two processes sharing a store; two reconcilers racing over the same stuck
// attempts. The sandbox's journal and ledger say what happened upstream.

import { describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { type ConnectChild, CrashBench, useCrashSandbox } from '../helpers/crash-harness.js';
import { Browser } from '../helpers/seller-flow.js';
import { postgresAvailable } from '../helpers/stores.js';

const TEST_MS = 90_000;
const PAST_THRESHOLDS_MS = 2 * 60_000;

let sb: Sandbox;
let bench: CrashBench;

// A fault a test armed but did not use must not reach the next test; each test's bench is closed after it.
useCrashSandbox((s) => {
  sb = s;
});

/**
 * Two browsers start a connect for one seller (each at its own connector), consent, and hit their callbacks at
 * the same moment. The first exchange is slowed so the second attempt is sure to find it in flight.
 */
async function twoTabs(b: CrashBench, children: [ConnectChild, ConnectChild], project: string) {
  const tabs = await Promise.all(
    children.map((child) =>
      b.begin(child, {
        tenant: 'tenant-1',
        project,
        browser: new Browser(),
        portIndex: b.ports.indexOf(child.port),
      }),
    ),
  );
  const mark = sb.journal.lastSeq;
  sb.addFault({ endpoint: 'token.exchange', action: { type: 'latency', ms: 700 }, times: 1 });
  const pages = await Promise.all(tabs.map((t, i) => b.visit(t.browser, t.url, `tab ${i + 1}`)));
  return { tabs, pages, mark };
}

async function checkOneConnected(
  b: CrashBench,
  project: string,
  pages: ({ status: number; text: string; location: string | null } | null)[],
  mark: number,
) {
  // One tab connected (303 to its done page), the other ended "already connected" without exchanging.
  const statuses = pages.map((p) => p?.status).sort();
  expect(statuses).toEqual([200, 303]);
  const other = pages.find((p) => p?.status === 200)!;
  expect(other.text).toContain('Already connected');
  expect(sb.journal.entries({ endpoint: 'token.create', sinceSeq: mark }).map((e) => e.status)).toEqual([
    200, 200,
  ]);
  expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(1);
  const attempts = await b.attemptsFor(project);
  expect(attempts.map((a) => `${a.status} ${a.errorCode ?? ''}`.trim()).sort()).toEqual([
    'CONNECTED',
    'FAILED ALREADY_CONNECTED',
  ]);
  // The loser's access token was never used; it expires on its own.
  const tokens = [...sb.world.tokens.values()].filter((t) => t.sellerProject === project);
  expect(tokens).toHaveLength(2);
  expect(tokens.filter((t) => t.usedAt === undefined)).toHaveLength(1);
  expect(b.activeLedger(project)).toHaveLength(1);
}

for (const storeKind of ['sqlite', 'postgres'] as const) {
  const available = storeKind === 'sqlite' || (await postgresAvailable());

  describe.skipIf(!available)(`concurrency (${storeKind})`, () => {
    it(
      'P6 two tabs connect the same seller at once through one connector: one exchange in flight, one active key, the other "already connected"',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const child = await bench.spawn();
        const { project } = bench.newSeller();
        const { pages, mark } = await twoTabs(bench, [child, child], project);
        await checkOneConnected(bench, project, pages, mark);

        sb.clock.advance(PAST_THRESHOLDS_MS);
        await bench.reconcileTwice(child, 2);
        const check = await bench.checkAtRest(project);
        expect(check.stored).toHaveLength(1);
        expect(check.ledgerActive).toEqual(check.stored);
      },
      TEST_MS,
    );

    it(
      'P6 two connector processes on one store each get a callback for the same seller at once: one exchange, one active key, the other "already connected"',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb, ports: 2 });
        const a = await bench.spawn({ portIndex: 0 });
        const b = await bench.spawn({ portIndex: 1 });
        const { project } = bench.newSeller();
        const { pages, mark } = await twoTabs(bench, [a, b], project);
        await checkOneConnected(bench, project, pages, mark);

        sb.clock.advance(PAST_THRESHOLDS_MS);
        await Promise.all([a.reconcile(2), b.reconcile(2)]);
        const check = await bench.checkAtRest(project);
        expect(check.stored).toHaveLength(1);
        expect(check.ledgerActive).toEqual(check.stored);
      },
      TEST_MS,
    );

    it(
      'P3 P2a two reconcilers in two processes over the same stuck attempts: each is taken once, one repair key created, ledger = stored keys',
      async () => {
        bench = await CrashBench.open({ store: storeKind, sandbox: sb });
        const { project } = bench.newSeller();
        // tenant-1 connects: the seller's service account is known.
        const healthy = await bench.spawn();
        await bench.connect(healthy, 'tenant-1', project);
        await healthy.kill9();
        // tenant-2 is killed with its exchange in flight (an orphan to repair) ...
        const first = await bench.spawn({ crash: { step: 'EXCHANGE_SENT', mode: 'hang' } });
        const x = await bench.begin(first, { tenant: 'tenant-2', project });
        const tornX = bench.visit(x.browser, x.url, 'tenant-2, killed');
        const orphanId = await first.waitStep('EXCHANGE_SENT');
        await first.kill9();
        await tornX;
        // ... and tenant-3, started later (so listed first), is killed holding an unspent access token.
        const second = await bench.spawn({ crash: { step: 'TOKEN_ISSUED', mode: 'self-kill' } });
        const y = await bench.begin(second, { tenant: 'tenant-3', project });
        const tornY = bench.visit(y.browser, y.url, 'tenant-3, killed');
        const resumeId = await second.waitStep('TOKEN_ISSUED');
        await second.kill9();
        await tornY;

        // Both reconcilers read [tenant-3, tenant-2]. The one that resumes tenant-3's slowed exchange reaches
        // tenant-2 while the other is in the middle of repairing it (its key creation slowed too).
        sb.clock.advance(PAST_THRESHOLDS_MS);
        const mark = sb.journal.lastSeq;
        sb.addFault({ endpoint: 'token.exchange', action: { type: 'latency', ms: 400 }, times: 1 });
        sb.addFault({ endpoint: 'api_users.create', action: { type: 'latency', ms: 1200 }, times: 2 });
        const r1 = await bench.spawn({ portIndex: 'any' });
        const r2 = await bench.spawn({ portIndex: 'any' });
        const [[a], [b]] = await Promise.all([r1.reconcile(1), r2.reconcile(1)]);

        expect(sb.journal.count({ endpoint: 'token.exchange', sinceSeq: mark })).toBe(1);
        expect(sb.journal.count({ endpoint: 'api_users.create', sinceSeq: mark })).toBe(1);
        expect(a!.orphans + b!.orphans).toBe(1);
        expect(a!.repaired + b!.repaired).toBe(1);
        expect(a!.connected + b!.connected).toBe(1);
        expect((await bench.store.getAttempt(orphanId))?.status).toBe('REPAIRED');
        expect((await bench.store.getAttempt(resumeId))?.status).toBe('CONNECTED');
        const check = await bench.checkAtRest(project);
        expect(check.flagged).toEqual([]);
        expect(check.stored).toHaveLength(3);
        expect([...check.ledgerActive].sort()).toEqual([...check.stored].sort());
      },
      TEST_MS,
    );
  });
}
