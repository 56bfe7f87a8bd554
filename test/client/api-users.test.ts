// The API User Service against the sandbox over real HTTP (NC34, NC35, NC36): create, list and remove keys by
// user_code or channel_identifier, configurable paths, the 5-key limit, and create never resent blindly.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_API_USER_PATHS,
  NoonApiUsers,
  type NoonClient,
  NoonSession,
  parseCredentials,
  processCreateCredentialBody,
} from '../../src/client/index.js';
import { DEFAULT_SWITCHES, type Sandbox } from '../../src/sandbox/index.js';
import { startSandbox } from '../helpers/sandbox.js';
import { caught, clientFor, integratorSession } from './helpers.js';

let sb: Sandbox;
let client: NoonClient;
let api: NoonApiUsers;
/** The integrator's own service account: the integrator session may manage it (NC36). */
let userCode: string;
let channelIdentifier: string;

const count = (endpoint: string) => sb.journal.count({ endpoint });
const activeKeys = async () => (await api.listCredentials({ userCode })).filter((k) => k.active);

beforeAll(async () => {
  sb = await startSandbox();
  client = clientFor(sb).client;
  api = new NoonApiUsers({ session: await integratorSession(sb, client) });
  userCode = sb.fixtures.integrator.userCode;
  channelIdentifier = sb.fixtures.integrator.channelIdentifier;
});
afterEach(async () => {
  sb.faults.clear();
  sb.setSwitches({ apiUserPaths: DEFAULT_SWITCHES.apiUserPaths, keyListing: true });
  // Keep only the fixture key, so each test starts with one active key of five.
  for (const k of await activeKeys())
    if (k.keyId !== sb.fixtures.integrator.key!.key_id)
      await api.removeCredential({ userCode, keyId: k.keyId });
});
afterAll(async () => {
  await client.close();
  await sb.close();
});

describe('API User Service (NC34, NC35)', () => {
  it('NC34 NC35 create, list and remove a key by user_code; the new key logs in; list never shows private keys', async () => {
    const created = await api.createCredential({ userCode });
    expect(created.keyFile.channel_identifier).toBe(channelIdentifier);
    expect(created.credentials.privateKey.asymmetricKeyType).toBe('rsa');
    const who = await new NoonSession(client, created.credentials).whoami();
    expect(who.keyId).toBe(created.credentials.keyId);
    const list = await api.listCredentials({ userCode });
    expect(list.map((k) => k.keyId)).toContain(created.credentials.keyId);
    expect(JSON.stringify(list)).not.toContain('PRIVATE');
    await api.removeCredential({ userCode, keyId: created.credentials.keyId });
    const after = await api.listCredentials({ userCode });
    expect(after.find((k) => k.keyId === created.credentials.keyId)?.active).toBe(false);
    // A removed key no longer logs in (NC4).
    const err = await caught(() => new NoonSession(client, created.credentials).login());
    expect(err.code).toBe('UNAUTHENTICATED');
  });

  it('NC34 the account can be named by channel_identifier instead (Noon resolves it)', async () => {
    const created = await api.createCredential({ channelIdentifier });
    expect(created.keyFile.channel_identifier).toBe(channelIdentifier);
    const list = await api.listCredentials({ channelIdentifier });
    expect(list.map((k) => k.keyId)).toContain(created.credentials.keyId);
    await api.removeCredential({ channelIdentifier, keyId: created.credentials.keyId });
    expect((await activeKeys()).map((k) => k.keyId)).not.toContain(created.credentials.keyId);
  });

  it('NC34 user_code wins when both are given', async () => {
    const list = await api.listCredentials({ userCode, channelIdentifier: 'nobody@p1.idp.noon.partners' });
    expect(list.map((k) => k.keyId)).toContain(sb.fixtures.integrator.key!.key_id);
    const wrong = await caught(() => api.listCredentials({ userCode: 'usr_nobody', channelIdentifier }));
    expect(wrong.code).toBe('NOT_FOUND');
    expect(wrong.reason).toBe('ACCOUNT_NOT_FOUND');
  });

  it('NC35 a sixth key is KEY_LIMIT (409)', async () => {
    while ((await activeKeys()).length < 5) await api.createCredential({ userCode });
    const err = await caught(() => api.createCredential({ userCode }));
    expect(err.code).toBe('KEY_LIMIT');
    expect(err.status).toBe(409);
  });

  it('NC35 the paths are configurable: the client follows the sandbox when both move', async () => {
    const moved = {
      create: '/identity/v2/service-users/keys/create',
      list: '/identity/v2/service-users/keys/list',
      remove: '/identity/v2/service-users/keys/remove',
    };
    sb.setSwitches({ apiUserPaths: moved });
    const stale = await caught(() => api.listCredentials({ userCode }));
    expect(stale.code).toBe('NOT_FOUND');
    expect(api.paths).toEqual(DEFAULT_API_USER_PATHS);
    const movedApi = new NoonApiUsers({ session: api.session, paths: moved });
    const list = await movedApi.listCredentials({ userCode });
    expect(list.length).toBeGreaterThanOrEqual(1);
    expect(
      () => new NoonApiUsers({ session: api.session, paths: { list: 'https://evil.example/x' } }),
    ).toThrow(TypeError);
  });

  it('NC35 a deployment without credentials/list answers 501: NOT_SUPPORTED', async () => {
    sb.setSwitches({ keyListing: false });
    expect((await caught(() => api.listCredentials({ userCode }))).code).toBe('NOT_SUPPORTED');
  });

  it("NC36 another project's service account is FORBIDDEN", async () => {
    const other = await sb.addIntegrator({ project_code: 'PRJ10099' });
    const err = await caught(() => api.listCredentials({ userCode: other.userCode }));
    expect(err.code).toBe('FORBIDDEN');
    expect(err.status).toBe(403);
    // And the other project's own session may manage it.
    const own = new NoonApiUsers({ session: new NoonSession(client, parseCredentials(other.key!)) });
    expect((await own.listCredentials({ userCode: other.userCode })).length).toBe(1);
  });

  it('NC35 create is never resent on an unknown outcome: OUTCOME_UNKNOWN, and the sandbox shows the undelivered key', async () => {
    sb.addFault({ endpoint: 'api_users.create', action: { type: 'commit-then-drop' } });
    const before = count('api_users.create');
    const undelivered = sb.ledger.count({ delivered: false });
    const err = await caught(() => api.createCredential({ userCode }));
    expect(err.code).toBe('OUTCOME_UNKNOWN');
    expect(count('api_users.create')).toBe(before + 1);
    expect(sb.ledger.count({ delivered: false })).toBe(undelivered + 1);
  });

  it('NC35 the create request step hands back the raw body before checking it', async () => {
    sb.addFault({ endpoint: 'api_users.create', action: { type: 'mutate', drop: ['issued_at'] } });
    const { response, rawBody } = await api.createCredentialRequest({ userCode });
    expect(JSON.parse(rawBody).private_key).toContain('PRIVATE KEY');
    const err = await caught(async () => processCreateCredentialBody(rawBody, response.status));
    expect(err.code).toBe('RESPONSE_INVALID');
    expect(err.field).toBe('issued_at');
  });

  it('NC34 naming no account is a coded TypeError, sent nowhere', async () => {
    const before = count('api_users.list');
    const err = await caught(() => api.listCredentials({} as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(count('api_users.list')).toBe(before);
  });
});
