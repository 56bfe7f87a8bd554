// Cases found in review: orphan cleanup never removes a key another tenant is still storing, and a flood of
// fresh connect links cannot hide a stuck attempt from the reconciler.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../helpers/harness.js';
import { Browser, connectThrough } from '../helpers/seller-flow.js';
import { waitFor } from '../helpers/wait.js';

describe('orphan cleanup and the reconciler under pressure', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      connector: { reconcileAfterMs: { EXCHANGE_SENT: 1000, KEY_STORED: 60_000 } },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("U8 orphan cleanup postpones while another tenant's key for the same seller is stored but not yet connected", async () => {
    // Tenant B's flow stops right after its key is stored (KEY_STORED), as if the process were slow.
    let hold: (() => void) | undefined;
    const held = new Promise<void>((r) => {
      hold = r;
    });
    const b = await startStack({
      sandbox: stack.sb,
      connector: {
        stepHook: async (step, attempt) => {
          if (step === 'KEY_STORED' && attempt.tenant === 'tenant-b') await held;
        },
      },
    });
    try {
      // Tenant A connects PRJ20002 first: the seller's service account becomes known.
      const runA = await connectThrough(b, { tenant: 'tenant-a', projectCode: 'PRJ20002' });
      expect(runA.callback.status).toBe(303);
      const runB = connectThrough(b, { tenant: 'tenant-b', projectCode: 'PRJ20002' });
      // Wait until B's key is stored upstream and in b's store.
      await waitFor(
        "tenant B's attempt to reach KEY_STORED",
        async () => (await b.store.listAttempts({ statuses: ['KEY_STORED'] })).length > 0,
      );
      expect(await b.store.listAttempts({ statuses: ['KEY_STORED'] })).toHaveLength(1);
      const account = (await b.connector.listConnections({ tenant: 'tenant-a' }))[0]!.channelIdentifier!;
      const keysBefore = stack.sb.world.activeKeys(
        stack.sb.world.account({ channelIdentifier: account })!.userCode,
      ).length;
      expect(keysBefore).toBe(2);
      // Cleanup now must not remove B's key (it is nobody's credential yet).
      expect(await b.connector.cleanOrphanKeys(account, 'PRJ20002')).toBe(0);
      hold!();
      const done = await runB;
      expect(done.callback.status).toBe(303);
      const conn = (await b.connector.listConnections({ tenant: 'tenant-b' }))[0]!;
      const active = stack.sb.world
        .activeKeys(stack.sb.world.account({ channelIdentifier: account })!.userCode)
        .map((k) => k.keyId);
      expect(active).toContain(conn.keyId);
      // B's seller session works with its key.
      expect((await (await b.connector.sellerSession('tenant-b', 'PRJ20002')).whoami()).keyId).toBe(
        conn.keyId,
      );
    } finally {
      hold?.();
      await b.close();
    }
  });

  it('P3 a stuck EXCHANGE_SENT attempt is reconciled even behind more than a thousand fresh connect links', async () => {
    // An attempt stuck in EXCHANGE_SENT (its process died), for a seller whose account is unknown here.
    let kill = true;
    const c = await startStack({
      sandbox: stack.sb,
      connector: {
        reconcileAfterMs: { EXCHANGE_SENT: 1000 },
        stepHook: async (step) => {
          if (step === 'EXCHANGE_SENT' && kill) throw new Error('process died here');
        },
      },
    });
    try {
      await connectThrough(c, { tenant: 'tenant-x', projectCode: 'PRJ20004' }).catch(() => undefined);
      kill = false;
      const [stuck] = await c.store.listAttempts({ statuses: ['EXCHANGE_SENT'] });
      expect(stuck).toBeDefined();
      // 1,200 fresh links (STARTED), newer than the stuck attempt.
      const browser = new Browser();
      for (let i = 0; i < 1200; i++)
        await c.connector.start({ tenant: `flood-${i % 7}`, cookieHeader: browser.cookieHeader() });
      c.sb.clock.advance(2000);
      const report = await c.connector.reconcile();
      expect(report.orphans).toBe(1);
      const after = await c.store.getAttempt(stuck!.id);
      expect(['NEEDS_RECONNECT', 'REPAIRED']).toContain(after?.status);
      // The expired links are failed in bulk once their 10 minutes pass.
      c.sb.clock.advance(10 * 60_000);
      const r2 = await c.connector.reconcile();
      expect(r2.failed).toBeGreaterThanOrEqual(1200);
      expect(await c.store.countAttempts(['STARTED'])).toBe(0);
    } finally {
      await c.close();
    }
  });
});
