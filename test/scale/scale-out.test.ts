// Scale-out: three `noon-connect serve` processes on one Postgres behind a round-robin proxy (loopback only).
// Many sellers connect, each flow's start, consent return and done page pinned to three different instances; one
// instance is killed with kill -9 in the middle and restarted. After the reconciler: every flow ended, the
// sandbox's ledger equals the stored keys plus the flagged orphans, every event reached the webhook receiver at
// least once and exactly once per event id after removing duplicates, and no attempt is left mid-way. An admin
// signed in through instance A rotates a connection through instance C.
//
// NC_SCALE_SELLERS sets the number of sellers (default 200).

import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnector } from '../../src/connect/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { parseConfig } from '../../src/service/config.js';
import { createLogger } from '../../src/service/logging.js';
import { connectorOptions } from '../../src/service/wiring.js';
import { metaOf, openStore, type Store, TERMINAL_STATUSES } from '../../src/store/index.js';
import { LocalKeyProvider, parseKeyConfig, Vault } from '../../src/vault/index.js';
import { Agent, csrfIn } from '../helpers/dashboard-agent.js';
import { noonParts } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { postgresAvailable } from '../helpers/stores.js';
import { createReceiver, type Receiver } from '../helpers/webhook-receiver.js';
import { type Cluster, type Flow, ROUTE_HEADER, startCluster, storm, waitStore } from './cluster.js';

const SELLERS = Number(process.env.NC_SCALE_SELLERS ?? 200);
const available = await postgresAvailable();

describe.skipIf(!available)('scale-out: three instances on one Postgres', () => {
  let sb: Sandbox;
  let receiver: Receiver;
  let cluster: Cluster;
  let store: Store;
  let flows: Flow[] = [];
  const killedAt: number[] = [];

  beforeAll(async () => {
    sb = await startSandbox();
    receiver = await createReceiver();
    cluster = await startCluster(sb, 3, {
      NOON_CONNECT_WEBHOOK_URLS: receiver.url,
      NOON_CONNECT_WEBHOOK_SECRET: randomBytes(24).toString('base64url'),
    });
    store = await openStore(cluster.storeUrl);
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await cluster?.close();
    await receiver?.close();
    await sb?.close();
  }, 60_000);

  it(`${SELLERS} sellers connect across the instances while one is killed with kill -9 and restarted`, async () => {
    const r = await storm(cluster, SELLERS, 12, async (_f, completed) => {
      if (completed === Math.floor(SELLERS / 3)) {
        killedAt.push(completed);
        await cluster.kill(1);
      }
      if (completed === Math.floor((2 * SELLERS) / 3)) await cluster.start(1);
    });
    flows = r.flows;
    process.stdout.write(
      `scale-out: ${SELLERS} flows in ${r.seconds.toFixed(1)} s (${(SELLERS / r.seconds).toFixed(1)} connects/s), ${cluster.proxy.failovers} requests skipped the killed instance, ${flows.reduce((n, f) => n + f.retries, 0)} steps repeated after a 502 (${JSON.stringify([...cluster.proxy.errors])})\n`,
    );
    expect(killedAt).toHaveLength(1);
    expect(cluster.instances[1]!.run).toBeDefined();
    expect(cluster.proxy.failovers).toBeGreaterThan(0);
    expect(flows).toHaveLength(SELLERS);
    // Each flow's start, callback and done page are pinned to three different instances; a step is served by
    // its own instance, or, when that was instance 1 (killed and restarted meanwhile), by the next one.
    for (const f of flows) {
      const pin = [f.index % 3, (f.index + 1) % 3, (f.index + 2) % 3];
      f.servedBy.forEach((s, step) => {
        if (s < 0) return;
        expect(s === pin[step] || (pin[step] === 1 && s === 2), `flow ${f.index} step ${step}`).toBe(true);
      });
      expect(f.servedBy.filter((s) => s >= 0).length).toBeGreaterThanOrEqual(1);
    }
    // The flows that ended before the kill were each served by all three.
    const beforeKill = flows.slice(0, killedAt[0]! - 12);
    for (const f of beforeKill) expect(new Set(f.servedBy).size, `flow ${f.index}`).toBe(3);
  }, 600_000);

  it('after the reconciler: every flow ended, ledger = stored keys + flagged orphans, nothing mid-way', async () => {
    const config = parseConfig(cluster.env);
    const vault = await Vault.open({
      provider: new LocalKeyProvider(parseKeyConfig(cluster.env.NOON_CONNECT_MASTER_KEY)),
      meta: metaOf(store),
    });
    const logs: string[] = [];
    const logger = createLogger({
      format: 'json',
      level: 'info',
      destination: new Writable({
        write(c: Buffer, _e, done) {
          logs.push(c.toString());
          done();
        },
      }),
    });
    const noon = noonParts(sb, cluster.clientId, cluster.env.NOON_CLIENT_SECRET!);
    // `noon-connect reconcile` after the storm with every threshold at 0 (no flow is in flight any more), so
    // whatever the kill left mid-way is taken over now.
    const connector = await createConnector({
      ...connectorOptions(config, { noon, store, vault, logger }),
      reconcileAfterMs: { CLAIMED: 0, TOKEN_ISSUED: 0, EXCHANGE_SENT: 0, KEY_STORED: 0, retiring: 0 },
    });
    for (let pass = 0; pass < 3; pass++) await connector.reconcile();

    const attempts = await store.listAttempts({ limit: 100_000 });
    // Mid-way: anything between the claim of a callback and its end. A STARTED attempt is a link whose start
    // the dying instance created but never answered (its flow went on with a fresh link); it expires unused.
    const midway = attempts.filter((a) => a.status !== 'STARTED' && !TERMINAL_STATUSES.includes(a.status));
    expect(midway.map((a) => `${a.id} ${a.status}`)).toEqual([]);
    const unused = attempts.filter((a) => a.status === 'STARTED').length;
    expect(unused).toBeLessThanOrEqual(flows.reduce((n, f) => n + f.retries, 0));
    // Every flow ended: its seller is connected, or its attempts all ended (checked above) with the flow seeing
    // an answer.
    const connections = await store.listConnections({});
    const byTenant = new Map(connections.map((c) => [c.tenant, c]));
    for (const f of flows) {
      if (f.ended === 'connected') expect(byTenant.get(f.tenant)?.status, f.tenant).toBe('active');
      else
        expect(
          attempts.some((a) => a.tenant === f.tenant),
          f.tenant,
        ).toBe(true);
    }
    expect(flows.filter((f) => f.ended === 'connected').length).toBeGreaterThanOrEqual(SELLERS - 12);

    // The ledger: every key Noon holds active for these sellers is stored, or flagged by an attempt.
    const projects = new Set(flows.map((f) => f.projectCode));
    let upstreamTotal = 0;
    for (const project of projects) {
      const upstream = sb.ledger
        .entries({ sellerProject: project })
        .filter((e) => e.removedAt === undefined)
        .map((e) => e.keyId);
      const stored = (
        await store.listCredentials({ sellerProject: project, states: ['active', 'retiring'] })
      ).map((c) => c.keyId);
      const flagged = attempts.filter(
        (a) =>
          a.sellerProject === project &&
          (a.status === 'ORPHAN_SUSPECTED' ||
            a.status === 'NEEDS_RECONNECT' ||
            a.status === 'NEEDS_ATTENTION'),
      ).length;
      expect(
        stored.every((k) => upstream.includes(k)),
        project,
      ).toBe(true);
      expect(upstream.filter((k) => !stored.includes(k)).length, project).toBe(flagged);
      upstreamTotal += upstream.length;
    }
    expect(upstreamTotal).toBeGreaterThanOrEqual(SELLERS - 12);
  }, 300_000);

  it('every event reached the webhook receiver at least once, and once per event id after removing duplicates', async () => {
    await waitStore(
      'every webhook delivered',
      async () => (await store.listDeliveries({ pending: true, limit: 10 })).length === 0,
      120_000,
    );
    const events = await store.listEvents({ limit: 100_000 });
    expect(events.length).toBeGreaterThanOrEqual(SELLERS - 12);
    const received = receiver.received.map((x) => (JSON.parse(x.body) as { id: string }).id);
    const unique = new Set(received);
    expect([...unique].sort()).toEqual(events.map((e) => e.id).sort());
    process.stdout.write(
      `scale-out: ${events.length} events, ${received.length} webhook posts (${received.length - unique.size} duplicates)\n`,
    );
  }, 180_000);

  it('an admin signed in through instance A rotates a connection through instance C', async () => {
    const agent = new Agent(cluster.proxy.url, new SecretSearch());
    const onA = { [ROUTE_HEADER]: '0' };
    const onC = { [ROUTE_HEADER]: '2' };
    const form = await agent.get('/sign-in', onA);
    expect(form.headers.get('x-nc-served-by')).toBe('0');
    const signed = await agent.post(
      '/sign-in',
      { csrf: csrfIn(form.text), token: cluster.adminToken, next: '/' },
      onA,
    );
    expect(signed.status).toBe(303);
    const c = (await store.listConnections({ status: 'active' }))[0]!;
    const page = await agent.get(`/connections/${c.id}`, onA);
    expect(page.status).toBe(200);
    const rotated = await agent.post(`/connections/${c.id}/rotate`, { csrf: csrfIn(page.text) }, onC);
    expect(rotated.headers.get('x-nc-served-by')).toBe('2');
    expect(rotated.status).toBe(303);
    const after = await store.getConnection(c.id);
    expect(after?.status).toBe('active');
    expect(after?.keyId).not.toBe(c.keyId);
    const audit = await store.listAudit({ connectionId: c.id });
    expect(
      audit.some((r) => r.action === 'rotate' && r.actor.startsWith('admin:') && r.outcome === 'ok'),
    ).toBe(true);
  }, 60_000);
});
