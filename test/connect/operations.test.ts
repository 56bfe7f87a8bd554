// Operations on a connection after the connect: health check, key rotation (make-before-break, within the
// 5-key limit), disconnect, reconnect of a known connection, and seller sessions (cached, tenant-scoped). The
// sandbox's own records (its accounts, keys, journal and ledger) are the oracle for what happened upstream.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConnectError, type ConnectorOptions, type Step } from '../../src/connect/index.js';
import { LruCache } from '../../src/connect/lru.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { type Stack, startStack } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { Browser, connectThrough } from '../helpers/seller-flow.js';
import { postgresAvailable } from '../helpers/stores.js';

let sb: Sandbox;
let projectSeq = 0;
function newSeller(projects = 1): string[] {
  const codes = Array.from({ length: projects }, () => `PRJ5${String(++projectSeq).padStart(4, '0')}`);
  sb.addSeller({
    email: `${codes[0]!.toLowerCase()}@sellers.example`,
    projects: codes.map((project_code) => ({ project_code })),
  });
  return codes;
}

/** The seller's service account's active key ids, as the sandbox holds them. */
function upstreamKeys(channelIdentifier: string): string[] {
  const account = sb.world.account({ channelIdentifier });
  if (!account) throw new Error('no such account in the sandbox');
  return sb.world.activeKeys(account.userCode).map((k) => k.keyId);
}

function journalCount(endpoint: string): number {
  return sb.journal.count({ endpoint });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConnectError);
  expect((e as ConnectError).code).toBe(code);
}

beforeAll(async () => {
  sb = await startSandbox({ poolSize: 12 });
});
afterAll(async () => {
  await sb?.close();
});

describe('LruCache', () => {
  it('keeps the most recently used entries up to its size and refuses a bad size', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('c', 3); // evicts b
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBe(2);
    c.delete('a');
    expect(c.size).toBe(1);
    expect(() => new LruCache(0)).toThrow(TypeError);
    expect(() => new LruCache(1.5)).toThrow(TypeError);
  });
});

const TARGETS = [
  { name: 'sqlite' as const, available: async () => true },
  { name: 'postgres' as const, available: postgresAvailable },
];

describe.each(TARGETS)('connection operations on $name', ({ name, available }) => {
  let run = false;
  let stack: Stack;
  const hooks: { step: Step; fn: () => Promise<void> | void }[] = [];
  const events: string[] = [];
  beforeAll(async () => {
    run = await available();
    if (!run) return;
    const connector: Partial<ConnectorOptions> = {
      stepHook: async (step) => {
        for (const h of hooks.splice(0)) {
          if (h.step === step) await h.fn();
          else hooks.push(h);
        }
      },
      onEvent: (e) => events.push(`${e.type}:${e.data.connection_id ?? ''}`),
      sellerSessionCacheSize: 3,
    };
    stack = await startStack({
      store: name,
      sandbox: sb,
      connector,
      authorizeStart: (req) => {
        const u = new URL(req.url);
        const connectionId = u.searchParams.get('connection');
        return {
          tenant: u.searchParams.get('tenant') ?? 'tenant-1',
          ...(connectionId ? { connectionId } : {}),
        };
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  async function connected(tenant: string, project: string) {
    const r = await connectThrough(stack, { tenant, projectCode: project });
    expect(r.callback.status).toBe(303);
    const c = (await stack.connector.listConnections({ tenant })).find((x) => x.sellerProject === project);
    expect(c?.status).toBe('active');
    return c!;
  }

  /** A reconnect through the browser: start with `?connection=<id>`, the seller grants `project`. */
  async function reconnect(tenant: string, connectionId: string, project: string) {
    const browser = new Browser();
    const start = await browser.get(
      `${stack.origin}/connect/start?tenant=${tenant}&connection=${connectionId}`,
    );
    expect(start.status).toBe(303);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const { code } = sb.authorize({ clientId: stack.clientId, state, projectCode: project });
    return browser.get(
      `${stack.callbackUrl}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`,
    );
  }

  it(`NC12 ${name}: healthCheck logs in as the seller, calls whoami and records the result on the connection`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const c = await connected('tenant-h', p!);
    const logins = journalCount('login');
    const whoamis = journalCount('whoami');
    sb.clock.advance(5000);
    const h = await stack.connector.healthCheck(c.id);
    expect(h.ok).toBe(true);
    expect(h.whoami?.projectCode).toBe(p);
    expect(h.whoami?.keyId).toBe(c.keyId);
    expect(journalCount('login')).toBe(logins + 1);
    expect(journalCount('whoami')).toBe(whoamis + 1);
    const after = await stack.connector.getConnection(c.id);
    expect(after?.lastHealthOk).toBe(true);
    expect(after?.lastHealthAt).toBe(h.checkedAt);
    expect(after?.lastHealthAt).toBeGreaterThan(c.updatedAt);
    // Another tenant cannot check (or learn about) this connection.
    await expectCode(stack.connector.healthCheck(c.id, 'tenant-other'), 'CONNECTION_NOT_FOUND');
  });

  it(`NC4 ${name}: healthCheck logs in afresh each time, so a key removed upstream is reported and recorded as failing`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const c = await connected('tenant-h', p!);
    expect((await stack.connector.healthCheck(c.id)).ok).toBe(true);
    // The seller (or an operator) removes the key in Noon's portal.
    const { apiUsers } = stack.parts;
    await apiUsers.removeCredential({ channelIdentifier: c.channelIdentifier!, keyId: c.keyId! });
    const logins = journalCount('login');
    const h = await stack.connector.healthCheck(c.id);
    expect(h.ok).toBe(false);
    expect(h.detail).toMatch(/^login or whoami failed: /);
    expect(journalCount('login')).toBe(logins + 1);
    const after = await stack.connector.getConnection(c.id);
    expect(after?.lastHealthOk).toBe(false);
  });

  it(`P7 ${name}: rotate is make-before-break: the new key is stored and in use before the old one is removed upstream; a rotated event`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const c = await connected('tenant-r', p!);
    const oldKey = c.keyId!;
    const account = c.channelIdentifier!;
    expect(upstreamKeys(account)).toEqual([oldKey]);
    let seenAtSwitch:
      | { upstream: string[]; states: Record<string, string>; inUse: string | null }
      | undefined;
    hooks.push({
      step: 'ROTATION_KEY_STORED',
      fn: async () => {
        const creds = await stack.store.listCredentials({ connectionId: c.id });
        seenAtSwitch = {
          upstream: upstreamKeys(account),
          states: Object.fromEntries(creds.map((x) => [x.keyId, x.state])),
          inUse: (await stack.connector.getConnection(c.id))!.keyId,
        };
      },
    });
    const removes = journalCount('api_users.remove');
    const view = await stack.connector.rotate(c.id);
    const newKey = view.keyId!;
    expect(newKey).not.toBe(oldKey);
    expect(view.id).toBe(c.id);
    expect(view.status).toBe('active');
    expect(view.oauthRequestId).toBe(c.oauthRequestId);
    // At the switch: both keys valid upstream, the new one active in the store and in use, the old retiring.
    expect(seenAtSwitch).toEqual({
      upstream: expect.arrayContaining([oldKey, newKey]),
      states: { [oldKey]: 'retiring', [newKey]: 'active' },
      inUse: newKey,
    });
    expect(seenAtSwitch!.upstream).toHaveLength(2);
    // After: the old key is gone upstream and marked removed; one key left.
    expect(upstreamKeys(account)).toEqual([newKey]);
    expect(journalCount('api_users.remove')).toBe(removes + 1);
    const creds = await stack.store.listCredentials({ connectionId: c.id });
    expect(Object.fromEntries(creds.map((x) => [x.keyId, x.state]))).toEqual({
      [oldKey]: 'removed',
      [newKey]: 'active',
    });
    const ledger = sb.ledger.entries({ via: 'api_users.create' }).find((e) => e.keyId === newKey);
    expect(ledger?.channelIdentifier).toBe(account);
    const types = (await stack.store.listEvents({ connectionId: c.id })).map((e) => e.type);
    expect(types).toContain('rotated');
    expect(events).toContain(`rotated:${c.id}`);
    // The rotated key works for the seller's API.
    const session = await stack.connector.sellerSession('tenant-r', p!);
    expect((await session.whoami()).keyId).toBe(newKey);
    const attempt = (await stack.store.listAttempts({ connectionId: c.id, kind: 'rotate' }))[0];
    expect(attempt?.status).toBe('CONNECTED');
  });

  it(`P7 ${name}: a rotation stopped between storing the new key and removing the old leaves two valid keys; the reconciler removes the old one`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const c = await connected('tenant-r', p!);
    hooks.push({
      step: 'ROTATION_KEY_STORED',
      fn: () => {
        throw new Error('stopped here');
      },
    });
    await expect(stack.connector.rotate(c.id)).rejects.toThrow('stopped here');
    const mid = (await stack.connector.getConnection(c.id))!;
    expect(mid.keyId).not.toBe(c.keyId);
    expect(upstreamKeys(c.channelIdentifier!).sort()).toEqual([c.keyId, mid.keyId].sort());
    // The new key works now; the old one still does too (never zero valid keys).
    expect((await (await stack.connector.sellerSession('tenant-r', p!)).whoami()).keyId).toBe(mid.keyId);
    const states = await stack.store.listCredentials({ connectionId: c.id });
    expect(Object.fromEntries(states.map((x) => [x.keyId, x.state]))).toEqual({
      [c.keyId!]: 'retiring',
      [mid.keyId!]: 'active',
    });
    sb.clock.advance(2 * 60_000);
    const report = await stack.connector.reconcile();
    expect(report.retiredKeys).toBeGreaterThanOrEqual(1);
    expect(upstreamKeys(c.channelIdentifier!)).toEqual([mid.keyId]);
    // A second run finds nothing more to do for this connection.
    await stack.connector.reconcile();
    expect(upstreamKeys(c.channelIdentifier!)).toEqual([mid.keyId]);
  });

  it(`NC4 NC35 ${name}: rotate with the account at 5 keys removes the keys no stored credential holds, then rotates (never over 5)`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const c = await connected('tenant-r', p!);
    const account = c.channelIdentifier!;
    const { apiUsers } = stack.parts;
    // Four keys made outside the connector (e.g. by a crashed flow): orphans we hold no copy of.
    for (let i = 0; i < 4; i++) await apiUsers.createCredential({ channelIdentifier: account });
    expect(upstreamKeys(account)).toHaveLength(5);
    const view = await stack.connector.rotate(c.id);
    expect(upstreamKeys(account)).toEqual([view.keyId]);
    const account5 = sb.world.account({ channelIdentifier: account })!;
    expect(sb.world.accountKeys(account5.userCode).filter((k) => k.active).length).toBeLessThanOrEqual(5);
  });

  it(`NC4 NC33 ${name}: rotate with 5 keys all held by connections (5 tenants, one seller) refuses with KEY_LIMIT and creates nothing`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const conns = [];
    for (let i = 1; i <= 5; i++) conns.push(await connected(`tenant-k${i}`, p!));
    const account = conns[0]!.channelIdentifier!;
    expect(new Set(conns.map((x) => x.channelIdentifier))).toEqual(new Set([account]));
    expect(upstreamKeys(account)).toHaveLength(5);
    const creates = journalCount('api_users.create');
    const removes = journalCount('api_users.remove');
    await expectCode(stack.connector.rotate(conns[0]!.id), 'KEY_LIMIT');
    expect(journalCount('api_users.create')).toBe(creates);
    expect(journalCount('api_users.remove')).toBe(removes);
    expect(upstreamKeys(account).sort()).toEqual(conns.map((x) => x.keyId).sort());
    expect((await stack.connector.getConnection(conns[0]!.id))?.keyId).toBe(conns[0]!.keyId);
  });

  it(`${name}: disconnect removes the key upstream, marks the connection disconnected and emits disconnected`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const c = await connected('tenant-d', p!);
    await stack.connector.sellerSession('tenant-d', p!);
    const view = await stack.connector.disconnect(c.id);
    expect(view.status).toBe('disconnected');
    expect(upstreamKeys(c.channelIdentifier!)).toEqual([]);
    const creds = await stack.store.listCredentials({ connectionId: c.id });
    expect(creds.map((x) => x.state)).toEqual(['removed']);
    expect((await stack.store.listEvents({ connectionId: c.id })).map((e) => e.type)).toContain(
      'disconnected',
    );
    expect(events).toContain(`disconnected:${c.id}`);
    await expectCode(stack.connector.sellerSession('tenant-d', p!), 'CONNECTION_INACTIVE');
    await expectCode(stack.connector.healthCheck(c.id), 'CONNECTION_INACTIVE');
    await expectCode(stack.connector.disconnect(c.id, 'tenant-other'), 'CONNECTION_NOT_FOUND');
  });

  it(`C6 ${name}: a reconnect of a known connection (start with its id) keeps the same record, switches keys and removes the old one`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const c = await connected('tenant-c', p!);
    const cb = await reconnect('tenant-c', c.id, p!);
    expect(cb.status).toBe(303);
    const all = await stack.connector.listConnections({ tenant: 'tenant-c' });
    expect(all.filter((x) => x.sellerProject === p)).toHaveLength(1);
    const after = (await stack.connector.getConnection(c.id))!;
    expect(after.id).toBe(c.id);
    expect(after.status).toBe('active');
    expect(after.keyId).not.toBe(c.keyId);
    expect(after.oauthRequestId).not.toBe(c.oauthRequestId);
    expect(upstreamKeys(c.channelIdentifier!)).toEqual([after.keyId]);
    expect(events).toContain(`reconnected:${c.id}`);
    // A disconnected connection can be reconnected the same way.
    await stack.connector.disconnect(c.id);
    expect((await reconnect('tenant-c', c.id, p!)).status).toBe(303);
    expect((await stack.connector.getConnection(c.id))?.status).toBe('active');
    // Another tenant cannot start a reconnect of it.
    const other = await fetch(`${stack.origin}/connect/start?tenant=tenant-x&connection=${c.id}`, {
      redirect: 'manual',
    });
    expect(other.status).toBe(400);
  });

  it(`NC24 ${name}: a reconnect where the seller grants a different project stops before the exchange: FAILED, "you granted a different project"`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p, q] = newSeller(2);
    const c = await connected('tenant-c', p!);
    const exchanges = journalCount('token.exchange');
    const creates = journalCount('token.create');
    const cb = await reconnect('tenant-c', c.id, q!);
    expect(cb.status).toBe(400);
    const page = await cb.text();
    expect(page).toContain('You granted a different project');
    expect(page).toContain('DIFFERENT_PROJECT');
    expect(journalCount('token.create')).toBe(creates + 1);
    expect(journalCount('token.exchange')).toBe(exchanges);
    const attempt = (await stack.store.listAttempts({ connectionId: c.id })).find(
      (a) => a.errorCode === 'DIFFERENT_PROJECT',
    );
    expect(attempt?.status).toBe('FAILED');
    expect(attempt?.accessTokenSealed).toBeNull();
    const after = (await stack.connector.getConnection(c.id))!;
    expect(after.keyId).toBe(c.keyId);
    expect(after.sellerProject).toBe(p);
    expect(await stack.connector.listConnections({ tenant: 'tenant-c' })).not.toContainEqual(
      expect.objectContaining({ sellerProject: q }),
    );
  });

  it(`NC41 ${name}: sellerSession caches the imported key (a second call opens nothing from the vault) and evicts the least recently used`, async (ctx) => {
    if (!run) return ctx.skip();
    const projects = [newSeller()[0]!, newSeller()[0]!, newSeller()[0]!, newSeller()[0]!];
    for (const p of projects) await connected('tenant-s', p);
    const open = vi.spyOn(stack.vault, 'open');
    try {
      const first = await stack.connector.sellerSession('tenant-s', projects[0]!);
      expect(open).toHaveBeenCalledTimes(1);
      const again = await stack.connector.sellerSession('tenant-s', projects[0]!);
      expect(again).toBe(first);
      expect(open).toHaveBeenCalledTimes(1);
      const items = await again.request('GET', '/catalog/v1/items');
      expect(items.status).toBe(200);
      // Cache of 3: filling it with three others evicts the first, which then opens the vault again.
      for (const p of projects.slice(1)) await stack.connector.sellerSession('tenant-s', p);
      expect(open).toHaveBeenCalledTimes(4);
      const reopened = await stack.connector.sellerSession('tenant-s', projects[0]!);
      expect(reopened).not.toBe(first);
      expect(open).toHaveBeenCalledTimes(5);
    } finally {
      open.mockRestore();
    }
  });

  it(`NC41 ${name}: a cached seller session keeps no private key once its first login signed; a later login reads the stored key again, and fails cleanly once it is gone`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const c = await connected('tenant-k', p!);
    const open = vi.spyOn(stack.vault, 'open');
    try {
      const session = await stack.connector.sellerSession('tenant-k', p!);
      expect(session.credentials.signsElsewhere).toBe(true);
      expect(() => session.credentials.privateKey).toThrow(TypeError);
      expect((await session.request('GET', '/catalog/v1/items')).status).toBe(200);
      expect(open).toHaveBeenCalledTimes(1); // the first login signed with the key opened for the session
      const logins = journalCount('login');
      await session.login();
      expect(journalCount('login')).toBe(logins + 1);
      expect(open).toHaveBeenCalledTimes(2); // read, opened and imported again for this login only
      expect((await session.whoami()).keyId).toBe(c.keyId);
      // The credential row gone (as a purge would leave it): the next login says so and sends nothing.
      const gone = vi.spyOn(stack.store, 'getCredential').mockResolvedValue(undefined);
      try {
        await expect(session.login()).rejects.toMatchObject({ code: 'CONNECTION_NOT_FOUND' });
        expect(gone).toHaveBeenCalledWith((await stack.store.getConnection(c.id))?.credentialId);
        expect(journalCount('login')).toBe(logins + 1);
      } finally {
        gone.mockRestore();
      }
    } finally {
      open.mockRestore();
    }
  });

  it(`NC41 ${name}: a tenant never gets a session for another tenant's seller, cached or not`, async (ctx) => {
    if (!run) return ctx.skip();
    const [p] = newSeller();
    const a = await connected('tenant-a', p!);
    const sa = await stack.connector.sellerSession('tenant-a', p!);
    await expectCode(stack.connector.sellerSession('tenant-b', p!), 'CONNECTION_NOT_FOUND');
    // Both tenants connect the same seller: each gets its own key and its own session.
    const b = await connected('tenant-b', p!);
    expect(b.keyId).not.toBe(a.keyId);
    const sb2 = await stack.connector.sellerSession('tenant-b', p!);
    expect(sb2).not.toBe(sa);
    expect((await sa.whoami()).keyId).toBe(a.keyId);
    expect((await sb2.whoami()).keyId).toBe(b.keyId);
    // Rotating tenant-b's key leaves tenant-a's session and key alone.
    await stack.connector.rotate(b.id);
    expect(await stack.connector.sellerSession('tenant-a', p!)).toBe(sa);
    expect((await stack.connector.getConnection(a.id))?.keyId).toBe(a.keyId);
    await expectCode(stack.connector.sellerSession('tenant-c', p!), 'CONNECTION_NOT_FOUND');
  });
});
