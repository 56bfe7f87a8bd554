// Logging in to Noon with a key that stays in a PKCS#11 token (SoftHSM2): `NoonCredentials.fromSigner` with the
// token's signing-key store, a login JWT signed in the token for every login (a fresh jti each time, so the
// sandbox, which refuses a replayed jti, takes a second login), the private key never reachable from the
// credentials, and a token that cannot sign failing the login before anything is sent.

import { createPublicKey, verify } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type KeyFile,
  NoonClient,
  NoonCredentials,
  NoonError,
  NoonSession,
  signLoginJwt,
} from '../../src/client/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { generatePkcs11MasterKey, Pkcs11Error, Pkcs11KeyProvider } from '../../src/vault/index.js';
import { startSandbox, UA } from '../helpers/sandbox.js';
import { pkcs11SkipReason, SoftHsm, USER_PIN } from '../helpers/softhsm.js';

const skip = pkcs11SkipReason();

describe.skipIf(skip)('login JWTs signed in a PKCS#11 token (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let sb: Sandbox;
  let client: NoonClient;
  const opened: Pkcs11KeyProvider[] = [];
  const open = async () => {
    const p = await Pkcs11KeyProvider.open({
      module: hsm.module,
      token: { label: 'login' },
      pin: USER_PIN,
      current: 'v1',
      keys: { v1: 'master' },
    });
    opened.push(p);
    return p;
  };
  const metadata = (key: KeyFile): Omit<KeyFile, 'private_key'> => {
    const { private_key: _, ...rest } = key;
    return rest;
  };

  beforeAll(async () => {
    hsm = await SoftHsm.create();
    hsm.initToken('login');
    await generatePkcs11MasterKey({
      module: hsm.module,
      token: { label: 'login' },
      pin: USER_PIN,
      label: 'master',
    });
    sb = await startSandbox();
    client = new NoonClient({ environment: { local: sb.url }, userAgent: UA, timeoutMs: 5000 });
  });

  afterEach(() => {
    for (const p of opened.splice(0)) p.close();
  });

  afterAll(async () => {
    await client?.close();
    await sb?.close();
    await hsm?.dispose();
  });

  it('the integrator logs in with its key in the token: whoami answers, twice, each login with a fresh jti', async () => {
    const keys = (await open()).signingKeys();
    const key = sb.fixtures.integrator.key!;
    const publicKey = await keys.importKey('integrator', key.private_key);
    const credentials = NoonCredentials.fromSigner(metadata(key), (data) => keys.sign('integrator', data));
    expect(credentials.signsElsewhere).toBe(true);
    expect(() => credentials.privateKey).toThrow(/not in this process/);
    expect(JSON.stringify(credentials)).not.toContain('PRIVATE');

    const session = new NoonSession(client, credentials);
    const who = await session.whoami();
    expect(who.keyId).toBe(key.key_id);
    expect(who.projectCode).toBe(key.project_code);
    const before = sb.journal.count({ endpoint: 'login' });
    await session.login();
    expect(sb.journal.count({ endpoint: 'login' })).toBe(before + 1);
    expect((await session.whoami()).keyId).toBe(key.key_id);

    // Two JWTs, two jtis; each verifies with the key's public half (the signature is the token's).
    const jwts = await Promise.all(
      [0, 1].map(() => signLoginJwt(credentials, Date.now(), () => crypto.randomUUID())),
    );
    const claims = jwts.map(
      (j) => JSON.parse(Buffer.from(j.split('.')[1]!, 'base64url').toString()) as { jti: string },
    );
    expect(claims[0]!.jti).not.toBe(claims[1]!.jti);
    for (const j of jwts) {
      const [h, c, s] = j.split('.');
      expect(verify('sha256', Buffer.from(`${h}.${c}`), publicKey, Buffer.from(s!, 'base64url'))).toBe(true);
    }
    expect(publicKey.equals(createPublicKey(key.private_key))).toBe(true);
  });

  it('a token that cannot sign fails the login with its own error, and nothing is sent to Noon', async () => {
    const provider = await open();
    const keys = provider.signingKeys();
    const key = sb.fixtures.integrator.key!;
    await keys.importKey('integrator', key.private_key);
    const session = new NoonSession(
      client,
      NoonCredentials.fromSigner(metadata(key), (data) => keys.sign('integrator', data)),
    );
    provider.close();
    const before = sb.journal.count({ endpoint: 'login' });
    const err = await session.login().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Pkcs11Error);
    expect((err as Pkcs11Error).reason).toBe('CLOSED');
    expect(sb.journal.count({ endpoint: 'login' })).toBe(before);
  });

  it('fromSigner checks the key file metadata by name like a key file, and needs a signing function', () => {
    const key = sb.fixtures.integrator.key!;
    const sign = async () => Buffer.alloc(0);
    expect(() => NoonCredentials.fromSigner({ ...metadata(key), key_id: '' }, sign)).toThrow(NoonError);
    expect(() => NoonCredentials.fromSigner({ ...metadata(key), issued_at: 'yesterday' }, sign)).toThrow(
      /issued_at is not a date/,
    );
    expect(() =>
      NoonCredentials.fromSigner(metadata(key), undefined as unknown as () => Promise<Uint8Array>),
    ).toThrow(/signing function/);
  });
});
