// Login and sessions against a running sandbox: the login body and JWT forms (NC5, NC6), the session cookies
// over http and https (NC9), every refusal of the login checks (NC10, E8), whoami (NC12), cookie-only
// authentication (NC11), session expiry and refusal reasons (NC13), and key removal (NC4).

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomUUID,
} from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyFile, Sandbox } from '../../src/sandbox/index.js';
import { gw, login, loginJwt, startSandbox } from '../helpers/sandbox.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import {
  claimsFor,
  cookieHeader,
  expectErrorShape,
  handJwt,
  LOGIN,
  parseSetCookie,
  raw,
  UA,
  WHOAMI,
} from './gateway-helpers.js';

const DAY_MS = 24 * 3600_000;

let sb: Sandbox;
let key: KeyFile;
/** Every secret this file sends or receives, searched for in the journal and in error bodies at the end. */
const secrets = new Set<string>();
/** Every error body this file received. */
const errorBodies: string[] = [];

const nowS = () => Math.floor(sb.clock.now() / 1000);

async function postLogin(token: string, project = key.project_code) {
  secrets.add(token);
  const res = await gw(sb, LOGIN, { body: { token, default_project_code: project } });
  if (res.status >= 400) errorBodies.push(res.text);
  for (const c of res.cookies) secrets.add(parseSetCookie(c).value);
  return res;
}

async function whoami(cookie?: string, headers: Record<string, string> = {}) {
  for (const part of (cookie ?? '').split(';')) {
    const v = part.split('=')[1]?.trim();
    if (v && v.length >= 32) secrets.add(v);
  }
  const res = await gw(sb, WHOAMI, { ...(cookie ? { cookie } : {}), headers });
  if (res.status >= 400) errorBodies.push(res.text);
  return res;
}

/** A second key on the integrator's own account, made through the API User Service. */
async function extraKey(): Promise<KeyFile> {
  const cookie = await login(sb, key);
  const res = await gw(sb, '/identity/v1/api_users/credentials/create', {
    cookie,
    body: { user_code: sb.fixtures.integrator.userCode },
  });
  expect(res.status, res.text).toBe(200);
  secrets.add(res.json.private_key);
  return res.json as KeyFile;
}

beforeAll(async () => {
  sb = await startSandbox();
  key = sb.fixtures.integrator.key!;
  secrets.add(key.private_key);
});

afterAll(async () => {
  await sb?.close();
});

describe('login: body, JWT forms and cookies', () => {
  it('NC5 NC9 login takes {token, default_project_code} and answers 200 {} with _npsid and _nprtnetid (Max-Age 2592000, HttpOnly, Path=/, no Secure over http)', async () => {
    const res = await postLogin(await loginJwt(key, { nowS: nowS() }));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({});
    const cookies = res.cookies.map(parseSetCookie);
    expect(cookies.map((c) => c.name).sort()).toEqual(['_nprtnetid', '_npsid']);
    for (const c of cookies) {
      expect(c.value.length).toBeGreaterThanOrEqual(32);
      expect(c.attrs.get('max-age')).toBe('2592000');
      expect(c.attrs.has('httponly')).toBe(true);
      expect(c.attrs.get('path')).toBe('/');
      expect(c.attrs.has('secure')).toBe(false);
    }
    expect(cookies[0]!.value).not.toBe(cookies[1]!.value);
    expect((await whoami(cookieHeader(res.cookies))).status).toBe(200);
  });

  it('NC6 a JWT with header kid and exp, and the documented form without either, are both accepted', async () => {
    const withBoth = await loginJwt(key, { nowS: nowS() });
    const bare = await loginJwt(key, {
      nowS: nowS(),
      header: { kid: undefined },
      claims: { exp: undefined },
    });
    const [h1, p1] = withBoth
      .split('.')
      .slice(0, 2)
      .map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()));
    const [h2, p2] = bare
      .split('.')
      .slice(0, 2)
      .map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()));
    expect(h1.kid).toBe(key.key_id);
    expect(p1.exp).toBe(p1.iat + 300);
    expect(h2.kid).toBeUndefined();
    expect(p2.exp).toBeUndefined();
    expect((await postLogin(withBoth)).status).toBe(200);
    expect((await postLogin(bare)).status).toBe(200);
    // The same, hand-signed with node:crypto rather than jose: the sandbox is not tied to one signer.
    const pk = createPrivateKey(key.private_key);
    const hand = handJwt({ alg: 'RS256', typ: 'JWT' }, claimsFor(sb, key, { exp: undefined }), pk);
    expect((await postLogin(hand)).status).toBe(200);
  });

  it('NC9 over https the session cookies also carry Secure, and the session works there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'noon-sandbox-tls-'));
    let tls: Sandbox | undefined;
    try {
      tls = await startSandbox({ tls: selfSignedCertificate() });
      expect(tls.url.startsWith('https://')).toBe(true);
      const k = tls.fixtures.integrator.key!;
      const token = await loginJwt(k, { nowS: Math.floor(tls.clock.now() / 1000) });
      const res = await raw(tls, LOGIN, {
        headers: { 'user-agent': UA, 'content-type': 'application/json' },
        body: JSON.stringify({ token, default_project_code: k.project_code }),
      });
      expect(res.status, res.text).toBe(200);
      const cookies = res.cookies.map(parseSetCookie);
      expect(cookies.map((c) => c.name).sort()).toEqual(['_nprtnetid', '_npsid']);
      for (const c of cookies) {
        expect(c.attrs.has('secure')).toBe(true);
        expect(c.attrs.has('httponly')).toBe(true);
        expect(c.attrs.get('max-age')).toBe('2592000');
        expect(c.attrs.get('path')).toBe('/');
      }
      const me = await raw(tls, WHOAMI, { headers: { 'user-agent': UA, cookie: cookieHeader(res.cookies) } });
      expect(me.status).toBe(200);
      expect(me.json.key_id).toBe(k.key_id);
    } finally {
      await tls?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('NC5 a login body with a missing, empty or mistyped token or default_project_code → 400, never a crash', async () => {
    const token = await loginJwt(key, { nowS: nowS() });
    secrets.add(token);
    const bodies: unknown[] = [
      { default_project_code: key.project_code },
      { token },
      { token: '', default_project_code: key.project_code },
      { token: 42, default_project_code: key.project_code },
      { token: [token], default_project_code: key.project_code },
      { token: { jwt: token }, default_project_code: key.project_code },
      { token, default_project_code: 10001 },
      { token, default_project_code: [key.project_code] },
      { token, default_project_code: 'P'.repeat(65) },
    ];
    for (const body of bodies) {
      const res = await gw(sb, LOGIN, { body });
      errorBodies.push(res.text);
      expectErrorShape(res, 400, 'INVALID_ARGUMENT');
      expect(res.cookies).toEqual([]);
    }
    // The token was refused on the body checks only, so its jti is still fresh.
    expect((await postLogin(token)).status).toBe(200);
  });
});

describe('login: the checks (NC10, E8)', () => {
  let removed: KeyFile;
  /** An RSA key the sandbox has never seen. */
  let stranger: KeyObject;

  beforeAll(async () => {
    removed = await extraKey();
    sb.world.deactivateKey(sb.world.keys.get(removed.key_id)!, false);
    stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  });

  const cases: [string, () => string][] = [
    ['alg none', () => handJwt({ alg: 'none', typ: 'JWT' }, claimsFor(sb, key), undefined)],
    [
      'alg none with a kept RS256 signature',
      () => {
        const good = handJwt({ alg: 'RS256' }, claimsFor(sb, key), createPrivateKey(key.private_key));
        const [, p, s] = good.split('.');
        return `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.${s}`;
      },
    ],
    ['HS256 with a random secret', () => handJwt({ alg: 'HS256' }, claimsFor(sb, key), randomBytes(32))],
    [
      'HS256 keyed with the account public key PEM (algorithm confusion)',
      () =>
        handJwt(
          { alg: 'HS256' },
          claimsFor(sb, key),
          createPublicKey(key.private_key).export({ type: 'spki', format: 'pem' }).toString(),
        ),
    ],
    [
      'RS384 with the right key',
      () => handJwt({ alg: 'RS384' }, claimsFor(sb, key), createPrivateKey(key.private_key)),
    ],
    [
      'RS512 with the right key',
      () => handJwt({ alg: 'RS512' }, claimsFor(sb, key), createPrivateKey(key.private_key)),
    ],
    [
      'PS256 with the right key',
      () => handJwt({ alg: 'PS256' }, claimsFor(sb, key), createPrivateKey(key.private_key)),
    ],
    [
      'an expired exp',
      () =>
        handJwt({ alg: 'RS256' }, claimsFor(sb, key, { exp: nowS() - 1 }), createPrivateKey(key.private_key)),
    ],
    [
      'a non-numeric exp',
      () =>
        handJwt({ alg: 'RS256' }, claimsFor(sb, key, { exp: 'later' }), createPrivateKey(key.private_key)),
    ],
    [
      'iat more than 60 s in the future',
      () =>
        handJwt(
          { alg: 'RS256' },
          claimsFor(sb, key, { iat: nowS() + 90 }),
          createPrivateKey(key.private_key),
        ),
    ],
    [
      'iat more than 5 min old',
      () =>
        handJwt(
          { alg: 'RS256' },
          claimsFor(sb, key, { iat: nowS() - 330, exp: nowS() + 60 }),
          createPrivateKey(key.private_key),
        ),
    ],
    [
      'no iat',
      () =>
        handJwt({ alg: 'RS256' }, claimsFor(sb, key, { iat: undefined }), createPrivateKey(key.private_key)),
    ],
    [
      'no jti',
      () =>
        handJwt({ alg: 'RS256' }, claimsFor(sb, key, { jti: undefined }), createPrivateKey(key.private_key)),
    ],
    [
      'an unknown key',
      () => {
        const fake = randomBytes(16).toString('hex');
        return handJwt({ alg: 'RS256', kid: fake }, claimsFor(sb, key, { sub: fake }), stranger);
      },
    ],
    [
      'a deactivated key',
      () =>
        handJwt(
          { alg: 'RS256', kid: removed.key_id },
          claimsFor(sb, removed),
          createPrivateKey(removed.private_key),
        ),
    ],
    [
      'kid different from sub',
      () =>
        handJwt({ alg: 'RS256', kid: removed.key_id }, claimsFor(sb, key), createPrivateKey(key.private_key)),
    ],
    [
      'a signature by another key',
      () => handJwt({ alg: 'RS256', kid: key.key_id }, claimsFor(sb, key), stranger),
    ],
    [
      'a payload changed after signing',
      () => {
        const good = handJwt({ alg: 'RS256' }, claimsFor(sb, key), createPrivateKey(key.private_key));
        const [h, , s] = good.split('.');
        const forged = Buffer.from(JSON.stringify(claimsFor(sb, key))).toString('base64url');
        return `${h}.${forged}.${s}`;
      },
    ],
    ['not a JWT at all', () => 'not-a-jwt'],
    [
      'two parts only',
      () =>
        handJwt({ alg: 'RS256' }, claimsFor(sb, key), createPrivateKey(key.private_key))
          .split('.')
          .slice(0, 2)
          .join('.'),
    ],
  ];

  for (const [name, make] of cases) {
    it(`E8 NC10 login JWT with ${name} → 401, no session`, async () => {
      const sessions = sb.world.sessions.size;
      const res = await postLogin(make());
      expectErrorShape(res, 401, 'INVALID_TOKEN');
      expect(res.cookies).toEqual([]);
      expect(sb.world.sessions.size).toBe(sessions);
    });
  }

  it('E8 NC10 tokens just inside each window are accepted, so the refusals above come from the checks', async () => {
    const pk = createPrivateKey(key.private_key);
    // iat within 60 s ahead, iat under 5 min old, exp in the future: all inside the windows.
    expect(
      (await postLogin(handJwt({ alg: 'RS256' }, claimsFor(sb, key, { iat: nowS() + 45 }), pk))).status,
    ).toBe(200);
    expect(
      (
        await postLogin(
          handJwt({ alg: 'RS256' }, claimsFor(sb, key, { iat: nowS() - 240, exp: nowS() + 60 }), pk),
        )
      ).status,
    ).toBe(200);
    expect((await postLogin(handJwt({ alg: 'RS256', kid: key.key_id }, claimsFor(sb, key), pk))).status).toBe(
      200,
    );
  });

  it('E8 NC10 a replayed jti → 401 within 10 min; the same jti is accepted again once the clock moved 10 min', async () => {
    const jti = randomUUID();
    const first = await postLogin(await loginJwt(key, { nowS: nowS(), claims: { jti } }));
    expect(first.status).toBe(200);
    // A fresh token (new iat and signature) with the same jti is still a replay.
    sb.clock.advance(5_000);
    const again = await postLogin(await loginJwt(key, { nowS: nowS(), claims: { jti } }));
    expectErrorShape(again, 401, 'INVALID_TOKEN');
    sb.clock.advance(9 * 60_000);
    expectErrorShape(
      await postLogin(await loginJwt(key, { nowS: nowS(), claims: { jti } })),
      401,
      'INVALID_TOKEN',
    );
    sb.clock.advance(60_000);
    expect((await postLogin(await loginJwt(key, { nowS: nowS(), claims: { jti } }))).status).toBe(200);
  });

  it('NC10 a default_project_code the account may not act in → 403 PROJECT_NOT_ALLOWED, and that refusal does not burn the jti', async () => {
    const jti = randomUUID();
    const seller = sb.fixtures.seller.projects[0]!;
    for (const project of [seller, 'PRJ99999']) {
      const res = await postLogin(await loginJwt(key, { nowS: nowS(), claims: { jti } }), project);
      expectErrorShape(res, 403, 'PROJECT_NOT_ALLOWED');
      expect(res.cookies).toEqual([]);
    }
    expect((await postLogin(await loginJwt(key, { nowS: nowS(), claims: { jti } }))).status).toBe(200);
  });
});

describe('sessions', () => {
  it('NC12 whoami answers exactly user_code, channel_identifier, key_id, project_code and projects', async () => {
    const res = await whoami(await login(sb, key));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      user_code: sb.fixtures.integrator.userCode,
      channel_identifier: sb.fixtures.integrator.channelIdentifier,
      key_id: key.key_id,
      project_code: sb.fixtures.integrator.projectCode,
      projects: [sb.fixtures.integrator.projectCode],
    });
  });

  it('NC13 a missing, unknown or mismatched session → 401 SESSION_REQUIRED', async () => {
    const cookie = await login(sb, key);
    secrets.add(cookie);
    const sid = /_npsid=([^;]+)/.exec(cookie)![1]!;
    expectErrorShape(await whoami(), 401, 'SESSION_REQUIRED');
    expectErrorShape(await whoami('_npsid=not-a-session'), 401, 'SESSION_REQUIRED');
    expectErrorShape(await whoami(`_nprtnetid=${sid}`), 401, 'SESSION_REQUIRED');
    // The refresh cookie, when sent, must belong to the same session.
    expectErrorShape(await whoami(`_npsid=${sid}; _nprtnetid=someone-else`), 401, 'SESSION_REQUIRED');
    expect((await whoami(`_npsid=${sid}`)).status).toBe(200);
  });

  it('NC11 requests authenticate by the cookies only: an Authorization header alone is not a session', async () => {
    const token = await loginJwt(key, { nowS: nowS() });
    const res = await postLogin(token);
    const sid = parseSetCookie(res.cookies.find((c) => c.startsWith('_npsid='))!).value;
    for (const authorization of [`Bearer ${sid}`, `Bearer ${token}`, sid, `Cookie _npsid=${sid}`]) {
      expectErrorShape(await whoami(undefined, { authorization }), 401, 'SESSION_REQUIRED');
    }
    expect((await whoami(cookieHeader(res.cookies))).status).toBe(200);
  });

  it('NC4 NC13 a session lives 30 days: whoami works just before, then 401 SESSION_EXPIRED on every gateway path', async () => {
    const cookie = await login(sb, key);
    sb.clock.advance(30 * DAY_MS - 60_000);
    expect((await whoami(cookie)).status).toBe(200);
    sb.clock.advance(60_000);
    expectErrorShape(await whoami(cookie), 401, 'SESSION_EXPIRED');
    const items = await gw(sb, '/catalog/v1/items', { cookie });
    errorBodies.push(items.text);
    expectErrorShape(items, 401, 'SESSION_EXPIRED');
    // A new login still works at the moved clock.
    expect((await whoami(await login(sb, key))).status).toBe(200);
  });

  it('NC13 a second login keeps the first session by default; with secondLoginEndsFirst the first ends (SESSION_REQUIRED)', async () => {
    const one = await login(sb, key);
    const two = await login(sb, key);
    expect((await whoami(one)).status).toBe(200);
    expect((await whoami(two)).status).toBe(200);
    sb.setSwitches({ secondLoginEndsFirst: true });
    try {
      const three = await login(sb, key);
      expectErrorShape(await whoami(one), 401, 'SESSION_REQUIRED');
      expectErrorShape(await whoami(two), 401, 'SESSION_REQUIRED');
      expect((await whoami(three)).status).toBe(200);
    } finally {
      sb.setSwitches({ secondLoginEndsFirst: false });
    }
  });

  it('NC13 with the errorReasons switch off a 401 carries no reason', async () => {
    sb.setSwitches({ errorReasons: false });
    try {
      const res = await whoami();
      expect(res.status).toBe(401);
      expect(res.json.code).toBe(16);
      expect(res.json.details).toEqual([]);
      expect(res.text).not.toContain('SESSION_REQUIRED');
    } finally {
      sb.setSwitches({ errorReasons: true });
    }
    expectErrorShape(await whoami(), 401, 'SESSION_REQUIRED');
  });
});

describe('key removal (NC4)', () => {
  it('NC4 a key removed through the API User Service fails every later login at once', async () => {
    const k = await extraKey();
    expect((await postLogin(await loginJwt(k, { nowS: nowS() }))).status).toBe(200);
    const cookie = await login(sb, key);
    const rm = await gw(sb, '/identity/v1/api_users/credentials/remove', {
      cookie,
      body: { user_code: sb.fixtures.integrator.userCode, key_id: k.key_id },
    });
    expect(rm.status, rm.text).toBe(200);
    for (let i = 0; i < 3; i++) {
      expectErrorShape(await postLogin(await loginJwt(k, { nowS: nowS() })), 401, 'INVALID_TOKEN');
    }
    // The account's other key is unaffected.
    expect((await postLogin(await loginJwt(key, { nowS: nowS() }))).status).toBe(200);
  });

  it('NC4 removing a key leaves its live sessions by default; with deactivateEndsSessions they end at once', async () => {
    const admin = await login(sb, key);
    const remove = (k: KeyFile) =>
      gw(sb, '/identity/v1/api_users/credentials/remove', {
        cookie: admin,
        body: { user_code: sb.fixtures.integrator.userCode, key_id: k.key_id },
      });
    const kept = await extraKey();
    const keptSession = await login(sb, kept);
    expect((await remove(kept)).status).toBe(200);
    expect((await whoami(keptSession)).status).toBe(200);

    const ended = await extraKey();
    const endedSession = await login(sb, ended);
    sb.setSwitches({ deactivateEndsSessions: true });
    try {
      expect((await remove(ended)).status).toBe(200);
    } finally {
      sb.setSwitches({ deactivateEndsSessions: false });
    }
    expectErrorShape(await whoami(endedSession), 401, 'SESSION_REQUIRED');
    expectErrorShape(await postLogin(await loginJwt(ended, { nowS: nowS() })), 401, 'INVALID_TOKEN');
  });
});

describe('secrets', () => {
  it('NC9 NC10 no login JWT, session cookie or PEM text appears in the journal or in any error body', () => {
    const journal = JSON.stringify(sb.journal.entries());
    const errors = errorBodies.join('\n');
    expect(secrets.size).toBeGreaterThan(20);
    expect(errorBodies.length).toBeGreaterThan(20);
    for (const s of secrets) {
      const needles = [s];
      // PEM text: its base64 lines would show up even if the armour were stripped.
      if (s.includes('-----BEGIN')) needles.push(...s.split('\n').filter((l) => l.length > 40));
      for (const n of needles) {
        expect(journal.includes(n)).toBe(false);
        expect(errors.includes(n)).toBe(false);
      }
    }
  });
});
