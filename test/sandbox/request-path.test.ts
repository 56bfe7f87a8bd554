// The path every request takes through the sandbox, where it was made cheaper, checked against what it did before:
// targets are read as the URL parser reads them (most without it), request bodies are read in full however they
// arrive, sessions a second login ends are found through their key, account keys through their account, exchange
// accounts through an index, and the login jti cache refuses replays past its sweep size.

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdjustableClock } from '../../src/sandbox/clock.js';
import { requestTarget } from '../../src/sandbox/incoming.js';
import type { KeyFile, Sandbox } from '../../src/sandbox/index.js';
import type { KeyPair, KeyPool } from '../../src/sandbox/key-pool.js';
import type { ServiceAccount } from '../../src/sandbox/model.js';
import { memoryRecords } from '../../src/sandbox/records.js';
import { cryptoRandomness, World } from '../../src/sandbox/world.js';
import { gw, login, loginJwt, startSandbox } from '../helpers/sandbox.js';
import { expectErrorShape, LOGIN, raw, UA, WHOAMI } from './gateway-helpers.js';

let sb: Sandbox;
let key: KeyFile;

beforeAll(async () => {
  sb = await startSandbox();
  key = sb.fixtures.integrator.key!;
});

afterAll(async () => {
  await sb?.close();
});

/** The path and query as the WHATWG URL parser reads a request target. */
function urlReading(target: string): { path: string; query: string[][] } {
  try {
    const u = target.startsWith('/') ? new URL(`http://sandbox.invalid${target}`) : new URL(target);
    return { path: u.pathname, query: [...u.searchParams] };
  } catch {
    return { path: '/', query: [] };
  }
}

function sandboxReading(target: string): { path: string; query: string[][] } {
  const t = requestTarget(target);
  return { path: t.path, query: [...new URLSearchParams(t.search)] };
}

describe('request targets', () => {
  it('are read exactly as the URL parser reads them, plain or not', () => {
    const targets = [
      '/',
      '/identity/v1/whoami',
      '/identity/v1/whoami?',
      '/?client_id=a&state=b',
      '/??a=1',
      '/?=',
      '/?&',
      '//x/_sandbox/faults',
      '/identity/v1/x/../whoami',
      '/identity/v1/./whoami',
      '/identity/v1/%2e%2e/whoami',
      '/identity/v1/%77hoami',
      '/a\\b',
      '/a b',
      '/a#frag',
      '/a?b#frag',
      '/a?q=\'x\'&r="y"&s=<z>',
      '/a?q=%zz&r=%41+b',
      '/access/projects/PRJ1?x=y{}|^`',
      'http://elsewhere.example/identity/v1/whoami?a=1',
      '*',
    ];
    for (const t of targets) expect(sandboxReading(t), t).toEqual(urlReading(t));
    // And a deterministic spread of targets over the characters a request line may hold.
    const chars = [
      '/',
      '/',
      '?',
      '=',
      '&',
      '.',
      '..',
      '%',
      '%2e',
      '%41',
      '#',
      '\\',
      '+',
      ' ',
      'a',
      'Z',
      '~',
      '@',
    ];
    for (let c = 0x21; c < 0x7f; c++) chars.push(String.fromCharCode(c));
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 20_000; i++) {
      let t = '/';
      for (let j = next(12); j > 0; j--) t += chars[next(chars.length)];
      expect(sandboxReading(t), t).toEqual(urlReading(t));
    }
  });

  it('that the URL parser normalises reach the route it names; a query does not change the route', async () => {
    const headers = { 'user-agent': UA };
    for (const path of ['/identity/v1/x/../whoami', '/identity/v1/./whoami', '/identity/v1/whoami?x=1']) {
      expectErrorShape(await raw(sb, path, { headers }), 401, 'SESSION_REQUIRED');
    }
    expectErrorShape(await raw(sb, '/identity/v1/%77hoami', { headers }), 404, 'NOT_FOUND');
  });
});

/** A login sent over a raw socket, its body written `delayMs` after the headers and in two pieces. */
function slowLogin(body: string, delayMs: number): Promise<{ status: number; text: string }> {
  const url = new URL(sb.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      received += d;
      const end = received.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(received);
      if (end >= 0 && length && received.length >= end + 4 + Number(length[1])) {
        socket.end();
        resolve({ status: Number(received.split(' ')[1]), text: received.slice(end + 4) });
      }
    });
    socket.on('error', reject);
    socket.write(
      `POST ${LOGIN} HTTP/1.1\r\nhost: ${url.host}\r\nuser-agent: ${UA}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    const half = Math.floor(body.length / 2);
    setTimeout(() => {
      socket.write(body.slice(0, half));
      setTimeout(() => socket.write(body.slice(half)), delayMs);
    }, delayMs);
  });
}

describe('request bodies', () => {
  it('NC5 a login whose body comes after its headers, in pieces, is read in full', async () => {
    const token = await loginJwt(key, { nowS: Math.floor(sb.clock.now() / 1000) });
    const res = await slowLogin(JSON.stringify({ token, default_project_code: key.project_code }), 30);
    expect(res.status, res.text).toBe(200);
    expect(res.text).toBe('{}');
  });

  it('NC5 a body that came whole with its headers and one that did not get the same answer', async () => {
    const body = JSON.stringify({ token: 'not.a.jwt', default_project_code: key.project_code });
    const whole = await gw(sb, LOGIN, { raw: body, headers: { 'content-type': 'application/json' } });
    const slow = await slowLogin(body, 20);
    expectErrorShape(whole, 401, 'INVALID_TOKEN');
    expect(slow.status).toBe(401);
    expect(JSON.parse(slow.text)).toEqual(whole.json);
  });
});

describe('sessions', () => {
  it('NC13 with secondLoginEndsFirst on from the start, each login ends the one before it', async () => {
    sb.setSwitches({ secondLoginEndsFirst: true });
    try {
      const sessions: string[] = [];
      for (let i = 0; i < 4; i++) {
        sessions.push(await login(sb, key));
        for (const [j, cookie] of sessions.entries()) {
          const who = await gw(sb, WHOAMI, { cookie });
          if (j === i) expect(who.status, who.text).toBe(200);
          else expectErrorShape(who, 401, 'SESSION_REQUIRED');
        }
      }
    } finally {
      sb.setSwitches({ secondLoginEndsFirst: false });
    }
    // Off again, a new login leaves the last one alone.
    const last = await login(sb, key);
    const next = await login(sb, key);
    expect((await gw(sb, WHOAMI, { cookie: last })).status).toBe(200);
    expect((await gw(sb, WHOAMI, { cookie: next })).status).toBe(200);
  });
});

describe('ending sessions', () => {
  it('NC13 ends every open session of the key, however it was stored, and only those', () => {
    const clock = new AdjustableClock();
    const world = new World(memoryRecords(), clock, cryptoRandomness, {} as KeyPool);
    const session = (id: string, keyId: string) => ({
      id,
      refreshId: `r-${id}`,
      userCode: 'usr_a',
      keyId,
      projectCode: 'PRJ1',
      createdAt: clock.now(),
      expiresAt: clock.now() + 60_000,
    });
    const open = () => [...world.sessions.values()].filter((s) => s.endedAt === undefined).map((s) => s.id);
    world.addSession(session('a1', 'k1'));
    world.addSession(session('b1', 'k2'));
    world.endSessions('k1', clock.now());
    expect(open()).toEqual(['b1']);
    world.addSession(session('a2', 'k1'));
    world.sessions.put('a3', session('a3', 'k1'));
    world.addSession(session('a4', 'k1'));
    world.addSession(session('b2', 'k2'));
    world.endSessions('k1', clock.now());
    expect(open()).toEqual(['b1', 'b2']);
    world.endSessions('k3', clock.now());
    world.endSessions('k2', clock.now());
    expect(open()).toEqual([]);
    expect(world.sessions.get('a1')?.endedAt).toBe(clock.now());
  });
});

describe('the login jti cache', () => {
  it('NC10 refuses a replay while the jti is remembered, past the size at which it sweeps, and forgets it after', () => {
    const clock = new AdjustableClock();
    const world = new World(memoryRecords(), clock, cryptoRandomness, {} as KeyPool);
    const windowMs = 600_000;
    const n = 120_000;
    for (let i = 0; i < n; i++) expect(world.rememberJti(`k:${i}`, windowMs)).toBe(true);
    for (const i of [0, 1, 50_000, 99_999, n - 1]) expect(world.rememberJti(`k:${i}`, windowMs)).toBe(false);
    clock.advance(windowMs);
    for (const i of [0, 50_000, n - 1]) expect(world.rememberJti(`k:${i}`, windowMs)).toBe(true);
    // Newly remembered ones are refused again; the rest stay forgotten.
    expect(world.rememberJti('k:0', windowMs)).toBe(false);
    expect(world.rememberJti('k:1', windowMs)).toBe(true);
  });
});

describe('account keys and exchange accounts', () => {
  const pair = (n: number) => ({ publicPem: `pem-${n}`, privatePem: `private-${n}`, fingerprint: `fp-${n}` });
  const account = (userCode: string, extra: Partial<ServiceAccount> = {}): ServiceAccount => ({
    userCode,
    channelIdentifier: `${userCode}@p1.idp.noon.partners`,
    ownerProject: 'PRJ1',
    projects: ['PRJ1'],
    name: userCode,
    createdAt: 0,
    origin: 'fixture',
    ...extra,
  });

  it('NC4 an account lists its own keys in the order they were added, however they were stored', () => {
    const clock = new AdjustableClock();
    const world = new World(memoryRecords(), clock, cryptoRandomness, {} as KeyPool);
    const a = account('usr_a');
    const b = account('usr_b');
    const ids = (keys: { keyId: string }[]) => keys.map((k) => k.keyId);
    const added = { usr_a: [] as string[], usr_b: [] as string[] };
    for (let i = 0; i < 6; i++) {
      const owner = i % 3 === 0 ? b : a;
      clock.advance(1000);
      const issued = world.addKey(owner, pair(i) as KeyPair, 'admin');
      if (issued) (owner === a ? added.usr_a : added.usr_b).push(issued.key.keyId);
    }
    expect(ids(world.activeKeys('usr_a'))).toEqual(added.usr_a);
    expect(ids(world.activeKeys('usr_b'))).toEqual(added.usr_b);
    // A key stored around addKey is found as well.
    clock.advance(1000);
    world.keys.put('direct', { ...world.keys.get(added.usr_a[0]!)!, keyId: 'direct', issuedAt: clock.now() });
    expect(ids(world.activeKeys('usr_a'))).toEqual([...added.usr_a, 'direct']);
    world.deactivateKey(world.keys.get(added.usr_a[1]!)!, false);
    expect(ids(world.activeKeys('usr_a'))).toEqual([added.usr_a[0], ...added.usr_a.slice(2), 'direct']);
    expect(ids(world.accountKeys('usr_a'))).toEqual([...added.usr_a, 'direct']);
    expect(world.accountKeys('usr_a')[1]!.active).toBe(false);
    expect(world.activeKeys('usr_none')).toEqual([]);
  });

  it('NC33 the account an exchange made is found again by client, owner and seller project', () => {
    const world = new World(memoryRecords(), new AdjustableClock(), cryptoRandomness, {} as KeyPool);
    const oauth = (userCode: string, clientId: string, sellerProject: string) =>
      account(userCode, { origin: 'oauth', clientId, sellerProject, projects: [sellerProject] });
    expect(world.oauthAccount('c1', 'PRJ1', 'S1')).toBeUndefined();
    world.addAccount(oauth('usr_1', 'c1', 'S1'));
    world.addAccount(account('usr_f'));
    // Stored around addAccount, and a second match that must not win over the first.
    world.accounts.put('usr_2', oauth('usr_2', 'c1', 'S2'));
    world.addAccount(oauth('usr_3', 'c1', 'S1'));
    expect(world.oauthAccount('c1', 'PRJ1', 'S1')?.userCode).toBe('usr_1');
    expect(world.oauthAccount('c1', 'PRJ1', 'S2')?.userCode).toBe('usr_2');
    expect(world.oauthAccount('c1', 'PRJ2', 'S1')).toBeUndefined();
    expect(world.oauthAccount('c2', 'PRJ1', 'S1')).toBeUndefined();
    world.addAccount(oauth('usr_4', 'c2', 'S1'));
    expect(world.oauthAccount('c2', 'PRJ1', 'S1')?.userCode).toBe('usr_4');
    // Ids that run into each other stay apart.
    world.addAccount(oauth('usr_5', 'c1P', 'RJ1S1'));
    expect(world.oauthAccount('c1P', 'PRJ1', 'RJ1S1')?.userCode).toBe('usr_5');
    expect(world.oauthAccount('c1', 'PRJ1', 'S1')?.userCode).toBe('usr_1');
  });
});
