// The API User Service over real HTTP: create, list and remove keys of a service account named by user_code or
// channel_identifier (user_code wins, NC34), the wire shapes and the 5-key limit (NC35, NC4), other projects
// refused (NC36), the switches for listing and paths, and no leaked secrets.

import { createPrivateKey } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SWITCHES, type KeyFile, type Sandbox } from '../../src/sandbox/index.js';
import { pemLine } from '../helpers/pem.js';
import { startSandbox } from '../helpers/sandbox.js';
import { OAuthSteps, reason } from './oauth-steps.js';

const CREATE = '/identity/v1/api_users/credentials/create';
const LIST = '/identity/v1/api_users/credentials/list';
const REMOVE = '/identity/v1/api_users/credentials/remove';

let sb: Sandbox;
let steps: OAuthSteps;
let cookie: string;
let otherCookie: string;

beforeAll(async () => {
  sb = await startSandbox({ poolSize: 6 });
  steps = new OAuthSteps(sb, '33');
  cookie = await steps.login(sb.fixtures.integrator.key!);
  const other = await sb.addIntegrator({ project_code: 'PRJ10002', name: 'Other Integrations' });
  otherCookie = await steps.login(other.key!);
});

afterAll(async () => {
  await sb?.close();
});

beforeEach(() => {
  steps.resetFailureWindow();
});

/** A service account made by a connection (one key), and its user_code from the ledger. */
async function connectedAccount(): Promise<{ file: KeyFile; userCode: string; project: string }> {
  const project = steps.freshSellerProject();
  const file = await steps.connect(cookie, { projectCode: project });
  const userCode = sb.ledger.entries({ sellerProject: project })[0]!.userCode;
  return { file, userCode, project };
}

/** A call with the integrator's session, another cookie, or (null) none. */
async function post(path: string, body: Record<string, unknown>, c: string | null = cookie) {
  const r = await steps.call(path, { ...(c !== null ? { cookie: c } : {}), body });
  steps.remember(r);
  return r;
}

async function keyIds(ref: Record<string, unknown>): Promise<{ key_id: string; active: boolean }[]> {
  const r = await post(LIST, ref);
  expect(r.status).toBe(200);
  return r.json.credentials.map((c: { key_id: string; active: boolean }) => ({
    key_id: c.key_id,
    active: c.active,
  }));
}

describe('API User Service', () => {
  it('NC34 NC35 create by user_code returns a key file (§2) for the account; login with it works', async () => {
    const { file, userCode, project } = await connectedAccount();
    const r = await post(CREATE, { user_code: userCode });
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(r.json).sort()).toEqual([
      'channel_identifier',
      'issued_at',
      'key_id',
      'private_key',
      'project_code',
      'type',
    ]);
    expect(r.json).toMatchObject({
      channel_identifier: file.channel_identifier,
      project_code: project,
      type: 'apijwt',
    });
    expect(r.json.private_key.startsWith(pemLine('BEGIN'))).toBe(true);
    expect(createPrivateKey(r.json.private_key).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(r.json.key_id).not.toBe(file.key_id);
    const entry = sb.ledger.entries({ sellerProject: project }).find((e) => e.keyId === r.json.key_id);
    expect(entry).toMatchObject({ via: 'api_users.create', userCode });
    await expect.poll(() => sb.ledger.entries({ sellerProject: project })[1]?.delivered).toBe(true);
    await expect(steps.login(r.json as KeyFile, project)).resolves.toContain('_npsid=');
  });

  it('NC34 create and remove by channel_identifier (resolved server-side); user_code wins when both are given', async () => {
    const a = await connectedAccount();
    const b = await connectedAccount();
    const byChannel = await post(CREATE, { channel_identifier: a.file.channel_identifier });
    expect(byChannel.status).toBe(200);
    expect(byChannel.json.channel_identifier).toBe(a.file.channel_identifier);

    // Both given: the key goes to the account user_code names, not to the one channel_identifier names.
    const both = await post(CREATE, { user_code: b.userCode, channel_identifier: a.file.channel_identifier });
    expect(both.status).toBe(200);
    expect(both.json.channel_identifier).toBe(b.file.channel_identifier);
    expect(sb.ledger.count({ sellerProject: b.project })).toBe(2);
    expect(sb.ledger.count({ sellerProject: a.project })).toBe(2);
    // An unknown user_code is not rescued by a valid channel_identifier.
    const unknownUser = await post(CREATE, {
      user_code: 'usr_nobody',
      channel_identifier: a.file.channel_identifier,
    });
    expect([unknownUser.status, reason(unknownUser)]).toEqual([404, 'ACCOUNT_NOT_FOUND']);
    const neither = await post(CREATE, {});
    expect([neither.status, reason(neither)]).toEqual([400, 'INVALID_ARGUMENT']);
    expect(sb.ledger.count({ sellerProject: a.project })).toBe(2);

    const removed = await post(REMOVE, {
      channel_identifier: a.file.channel_identifier,
      key_id: byChannel.json.key_id,
    });
    expect([removed.status, removed.json]).toEqual([200, {}]);
    expect(await keyIds({ user_code: a.userCode })).toEqual([
      { key_id: a.file.key_id, active: true },
      { key_id: byChannel.json.key_id, active: false },
    ]);
    // Remove with both: user_code wins, so b's key id under a's channel is still found in b.
    const bothRemove = await post(REMOVE, {
      user_code: b.userCode,
      channel_identifier: a.file.channel_identifier,
      key_id: both.json.key_id,
    });
    expect(bothRemove.status).toBe(200);
    const otherAccountsKey = await post(REMOVE, { user_code: a.userCode, key_id: b.file.key_id });
    expect([otherAccountsKey.status, reason(otherAccountsKey)]).toEqual([404, 'KEY_NOT_FOUND']);
  });

  it('NC35 list answers {credentials:[{key_id, issued_at, active}]} and never a private key', async () => {
    const { userCode, file } = await connectedAccount();
    await post(CREATE, { user_code: userCode });
    const r = await post(LIST, { user_code: userCode });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(['credentials']);
    expect(r.json.credentials).toHaveLength(2);
    for (const c of r.json.credentials) {
      expect(Object.keys(c).sort()).toEqual(['active', 'issued_at', 'key_id']);
      expect(c.issued_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect(c.active).toBe(true);
    }
    expect(r.json.credentials[0].key_id).toBe(file.key_id);
    expect(r.text).not.toMatch(/PRIVATE KEY|BEGIN|private_key/);
  });

  it('NC35 NC4 a sixth active key → 409 KEY_LIMIT, nothing issued; a removed key shows active:false, fails login, and frees its slot', async () => {
    const { userCode, file, project } = await connectedAccount();
    const created: KeyFile[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await post(CREATE, { user_code: userCode });
      expect(r.status).toBe(200);
      created.push(r.json as KeyFile);
    }
    const sixth = await post(CREATE, { user_code: userCode });
    expect([sixth.status, reason(sixth)]).toEqual([409, 'KEY_LIMIT']);
    expect(sixth.headers.get('cache-control')).toBe('no-store');
    expect(sb.ledger.count({ sellerProject: project })).toBe(5);

    const victim = created[0]!;
    const sellerCookie = await steps.login(victim, project);
    const removed = await post(REMOVE, { user_code: userCode, key_id: victim.key_id });
    expect(removed.status).toBe(200);
    const listed = await keyIds({ user_code: userCode });
    expect(listed.find((k) => k.key_id === victim.key_id)).toEqual({ key_id: victim.key_id, active: false });
    expect(listed.filter((k) => k.active)).toHaveLength(4);
    expect(
      sb.ledger.entries({ sellerProject: project }).find((e) => e.keyId === victim.key_id)?.removedAt,
    ).toBe(sb.world.keys.get(victim.key_id)?.deactivatedAt);
    await expect(steps.login(victim, project)).rejects.toThrow(/401/);
    // Removing twice is harmless.
    expect((await post(REMOVE, { user_code: userCode, key_id: victim.key_id })).status).toBe(200);
    // Sessions already open stay open by default (an open question kept as a switch).
    expect((await steps.call('/identity/v1/whoami', { cookie: sellerCookie })).status).toBe(200);

    const refill = await post(CREATE, { user_code: userCode });
    expect(refill.status).toBe(200);
    expect((await post(CREATE, { user_code: userCode })).status).toBe(409);
    expect(sb.world.activeKeys(userCode).map((k) => k.keyId)).toContain(file.key_id);
  });

  it('NC36 another project’s session is refused (403) for create, list and remove; nothing changes', async () => {
    const { userCode, file, project } = await connectedAccount();
    const ref = { user_code: userCode };
    for (const [path, body] of [
      [CREATE, ref],
      [LIST, ref],
      [REMOVE, { ...ref, key_id: file.key_id }],
      [CREATE, { channel_identifier: file.channel_identifier }],
    ] as const) {
      const r = await post(path, body, otherCookie);
      expect([r.status, reason(r)], path).toEqual([403, 'PERMISSION_DENIED']);
    }
    // The account's own session acts in the seller project, which does not own the account either.
    const sellerCookie = await steps.login(file, project);
    const self = await post(CREATE, ref, sellerCookie);
    expect(self.status).toBe(403);
    const noSession = await post(CREATE, ref, null);
    expect([noSession.status, reason(noSession)]).toEqual([401, 'SESSION_REQUIRED']);
    expect(sb.ledger.count({ sellerProject: project })).toBe(1);
    expect(sb.world.keys.get(file.key_id)?.active).toBe(true);
  });

  it('NC35 switches: keyListing:false → 501 on list; custom apiUserPaths move all three calls', async () => {
    const { userCode, file } = await connectedAccount();
    sb.setSwitches({ keyListing: false });
    try {
      const r = await post(LIST, { user_code: userCode });
      expect([r.status, reason(r)]).toEqual([501, 'UNIMPLEMENTED']);
    } finally {
      sb.setSwitches({ keyListing: true });
    }

    const paths = {
      create: '/identity/v2/service-accounts/keys:create',
      list: '/identity/v2/service-accounts/keys:list',
      remove: '/identity/v2/service-accounts/keys:remove',
    };
    sb.setSwitches({ apiUserPaths: paths });
    try {
      const created = await post(paths.create, { user_code: userCode });
      expect(created.status).toBe(200);
      expect((await post(paths.list, { user_code: userCode })).json.credentials).toHaveLength(2);
      expect((await post(paths.remove, { user_code: userCode, key_id: created.json.key_id })).status).toBe(
        200,
      );
      const old = await post(CREATE, { user_code: userCode });
      expect(old.status).toBe(404);
    } finally {
      sb.setSwitches({ apiUserPaths: { ...DEFAULT_SWITCHES.apiUserPaths } });
    }
    expect(await keyIds({ user_code: userCode })).toEqual([
      { key_id: file.key_id, active: true },
      { key_id: expect.any(String), active: false },
    ]);
  });

  it('no client secret, code, access token, cookie, login JWT or PEM text in any journal entry or error body', async () => {
    expect(steps.privateKeys.length).toBeGreaterThan(10);
    expect(await steps.leakedSecrets()).toEqual([]);
  });
});
