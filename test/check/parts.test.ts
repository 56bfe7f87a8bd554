// The checker's parts on their own: the seller's cookie jar, the success criterion, the secret scanner, option
// selection, the https check (static, no application needed) and JUnit escaping.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Answer } from '../../src/check/agent.js';
import { claimsSuccess, describeAnswer } from '../../src/check/answer.js';
import { Cases } from '../../src/check/cases.js';
import { httpsCheck } from '../../src/check/checks/https.js';
import { CookieJar } from '../../src/check/cookie-jar.js';
import { renderJunit } from '../../src/check/index.js';
import { DEFAULT_SUCCESS, resolveOptions, selected } from '../../src/check/options.js';
import { Run } from '../../src/check/run.js';
import { SandboxLink } from '../../src/check/sandbox-link.js';
import { SecretScanner } from '../../src/check/secret-scan.js';
import type { CheckReport } from '../../src/check/types.js';
import { pemLine } from '../helpers/pem.js';
import { parseJunit } from './junit.js';

describe('CookieJar', () => {
  const app = new URL('http://127.0.0.1:8000/connect/start');

  it('sends a cookie back to its host and path only', () => {
    const jar = new CookieJar();
    jar.store(app, ['bind=abc; Path=/connect; HttpOnly', 'other=1']);
    expect(jar.header(new URL('http://127.0.0.1:8000/connect/callback'))).toBe('bind=abc; other=1');
    expect(jar.header(new URL('http://127.0.0.1:8000/elsewhere'))).toBeUndefined();
    expect(jar.header(new URL('http://localhost:8000/connect/callback'))).toBeUndefined();
  });

  it('forgets a cookie set with Max-Age=0 or an Expires in the past', () => {
    const jar = new CookieJar();
    jar.store(app, ['a=1; Path=/', 'b=2; Path=/']);
    jar.store(app, ['a=; Path=/; Max-Age=0', `b=; Path=/; Expires=${new Date(0).toUTCString()}`]);
    expect(jar.header(app)).toBeUndefined();
  });

  it('expires a cookie when its Max-Age passes', () => {
    let now = 1_000_000;
    const jar = new CookieJar(() => now);
    jar.store(app, ['a=1; Path=/; Max-Age=60']);
    expect(jar.header(app)).toBe('a=1');
    now += 61_000;
    expect(jar.header(app)).toBeUndefined();
  });

  it('refuses a Secure cookie over plain http to a non-loopback host, and a cookie for another domain', () => {
    const jar = new CookieJar();
    const remote = new URL('http://app.example/connect/start');
    jar.store(remote, ['s=1; Secure; Path=/', 'd=1; Domain=other.example; Path=/']);
    expect(jar.header(remote)).toBeUndefined();
    jar.store(app, ['__Host-s=1; Secure; Path=/']);
    expect(jar.header(app)).toBe('__Host-s=1');
  });

  it('keeps a domain cookie for subdomains', () => {
    const jar = new CookieJar();
    jar.store(new URL('https://app.example/'), ['d=1; Domain=app.example; Path=/']);
    expect(jar.header(new URL('https://www.app.example/x'))).toBe('d=1');
  });
});

function answer(status: number, body: string, path = '/connect/done'): Answer {
  return {
    kind: 'answer',
    status,
    url: new URL(`http://127.0.0.1:8000${path}`),
    body,
    headers: new Headers(),
    leftTo: undefined,
    chain: [path],
  };
}

describe('the success criterion', () => {
  it('by default: a 2xx page that says connected or success and nothing of failure', () => {
    const ok = (status: number, body: string) => claimsSuccess(answer(status, body), DEFAULT_SUCCESS);
    expect(ok(200, '<h1>Connected</h1><p>Your project is connected.</p>')).toBe(true);
    expect(ok(200, '<title>Success</title>')).toBe(true);
    expect(ok(200, '<h1>Already connected</h1>')).toBe(true);
    expect(ok(200, '<h1>Not connected</h1>')).toBe(false);
    expect(ok(200, '<h1>Connection failed</h1><p>connected: no</p>')).toBe(false);
    expect(ok(500, '<h1>Connected</h1>')).toBe(false);
    expect(ok(200, '<h1>Welcome</h1>')).toBe(false);
    expect(ok(200, '<script>var x = "error"</script><h1>Connected</h1>')).toBe(true);
  });

  it('is configurable: status list, final URL and body patterns', () => {
    const c = { status: ['302', '2xx'], url: /\/dashboard\?connected=1$/, body: null, notBody: null };
    expect(claimsSuccess(answer(200, '', '/dashboard?connected=1'), c)).toBe(true);
    expect(claimsSuccess(answer(200, '', '/dashboard?connected=0'), c)).toBe(false);
    expect(
      claimsSuccess({ kind: 'no-answer', reason: 'timeout', url: new URL('http://x/'), chain: [] }, c),
    ).toBe(false);
  });

  it('describes an answer by status, path and title, never by its query', () => {
    const a = answer(400, '<title>Not connected</title>', '/connect/callback?code=SECRETCODE123');
    expect(describeAnswer(a)).toBe('answered 400 at /connect/callback (“Not connected”)');
    expect(
      describeAnswer(
        { kind: 'no-answer', reason: 'timeout', url: new URL('http://x/cb?code=abc'), chain: [] },
        2000,
      ),
    ).toBe('did not answer in time (2 s) on GET /cb');
  });
});

describe('SecretScanner', () => {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const body = privateKey.split('\n').filter((l) => l && !l.startsWith('-----'));

  it('finds an exact secret, also URL-encoded, and names only its kind', () => {
    const s = new SecretScanner();
    const secret = `${randomBytes(12).toString('base64url')}+/=`;
    s.add('client secret', secret);
    expect(s.scan(`Location: /x?client_secret=${encodeURIComponent(secret)}`, 'here')).toEqual([
      { kind: 'client secret', where: 'here' },
    ]);
    expect(s.scan('nothing here', 'here')).toEqual([]);
    expect(s.redact(`a ${secret} b`)).toBe('a [redacted] b');
  });

  it('ignores values too short to be told from ordinary text', () => {
    const s = new SecretScanner();
    s.add('authorization code', 'abc');
    expect(s.scan('abc abc', 'x')).toEqual([]);
  });

  it('tells access tokens from login JWTs', () => {
    const jwt = (payload: object) =>
      [{ alg: 'RS256' }, payload]
        .map((p) => Buffer.from(JSON.stringify(p)).toString('base64url'))
        .concat(randomBytes(64).toString('base64url'))
        .join('.');
    const s = new SecretScanner();
    expect(s.scan(`token=${jwt({ sub: 'PRJ1', scope: 'access:grant', jti: 'x' })}`, 'a')).toEqual([
      { kind: 'access token', where: 'a' },
    ]);
    expect(s.scan(jwt({ sub: 'key', iat: 1, jti: 'y' }), 'b')).toEqual([{ kind: 'login JWT', where: 'b' }]);
  });

  it('finds private-key material: armour, or the base64 body alone, as PEM lines or JSON-escaped', () => {
    const s = new SecretScanner();
    expect(s.scan(`${pemLine('BEGIN')}\n...`, 'armour')).toEqual([{ kind: 'private key', where: 'armour' }]);
    expect(s.scan(body.join('\n'), 'lines')).toEqual([{ kind: 'private key', where: 'lines' }]);
    expect(s.scan(JSON.stringify({ private_key: body.join('\n') }), 'json')).toEqual([
      { kind: 'private key', where: 'json' },
    ]);
  });

  it('does not take any long base64 run for a key', () => {
    const s = new SecretScanner();
    expect(s.scan(`MII${randomBytes(900).toString('base64')}`, 'noise')).toEqual([]);
  });
});

describe('--only / --skip', () => {
  const o = (only: string[], skip: string[] = []) =>
    resolveOptions({ start: 'http://127.0.0.1:1/s', only, skip });

  it('a check id selects its cases; a case id selects its check and itself', () => {
    expect(selected(o(['state']), 'state')).toBe(true);
    expect(selected(o(['state']), 'state.forged')).toBe(true);
    expect(selected(o(['state']), 'errors')).toBe(false);
    expect(selected(o(['state.forged']), 'state')).toBe(true);
    expect(selected(o(['state.forged']), 'state.forged')).toBe(true);
    expect(selected(o(['state.forged']), 'state.missing')).toBe(false);
  });

  it('skip wins, and a skipped case leaves its check selected', () => {
    expect(selected(o([], ['state']), 'state.forged')).toBe(false);
    expect(selected(o([], ['state.forged']), 'state')).toBe(true);
    expect(selected(o([], ['state.forged']), 'state.forged')).toBe(false);
  });

  it('the callback defaults to `callback` beside the start path', () => {
    expect(o([]).callback.toString()).toBe('http://127.0.0.1:1/callback');
    expect(resolveOptions({ start: 'http://127.0.0.1:1/connect/start' }).callback.pathname).toBe(
      '/connect/callback',
    );
  });
});

describe('the https check', () => {
  async function judge(start: string, callback?: string) {
    const o = resolveOptions({ start, ...(callback ? { callback } : {}) });
    const run = new Run(
      o,
      new SandboxLink('http://127.0.0.1:9'),
      'client',
      'secret-value-123',
      new URL('http://127.0.0.1:9/'),
    );
    const cases = new Cases(run);
    await httpsCheck.run(cases);
    return cases.results[0]!;
  }

  it('fails plain http on a host that is not loopback', async () => {
    const r = await judge('http://app.example/connect/start');
    expect(r.outcome).toBe('FAIL');
    expect(r.evidence).toMatch(
      /the start URL http:\/\/app\.example\/connect\/start and the callback .* plain http/,
    );
  });

  it('fails a plain http callback behind an https start', async () => {
    const r = await judge('https://app.example/connect/start', 'http://app.example/connect/callback');
    expect(r.outcome).toBe('FAIL');
    expect(r.evidence).toMatch(/^the callback http:\/\/app\.example\/connect\/callback uses plain http/);
  });

  it('passes https, and plain http on loopback (a local run)', async () => {
    expect((await judge('https://app.example/connect/start')).outcome).toBe('PASS');
    const local = await judge('http://localhost:8000/connect/start');
    expect(local.outcome).toBe('PASS');
    expect(local.evidence).toMatch(/loopback/);
  });
});

it('JUnit escapes markup and drops characters XML cannot hold', () => {
  const evidence = 'a <b> & "c" \'d\' \u0001 end';
  const report: CheckReport = {
    schema: 'noon-connect.check/v1',
    startedAt: new Date().toISOString(),
    durationMs: 10,
    app: { start: 'http://x/s', callback: 'http://x/c' },
    sandbox: { url: 'http://y', started: true },
    ok: false,
    summary: { pass: 0, fail: 1, warn: 0, skip: 0 },
    error: 'run <error> & more',
    checks: [
      {
        id: 'state',
        title: 'T',
        checklist: 'C & D',
        outcome: 'FAIL',
        evidence,
        durationMs: 5,
        cases: [
          { id: 'state.forged', title: 'T1', outcome: 'FAIL', evidence, durationMs: 5 },
          { id: 'state.fresh', title: 'T2', outcome: 'SKIP', evidence: 'why', durationMs: 0 },
          { id: 'state.missing', title: 'T3', outcome: 'WARN', evidence: 'hmm', durationMs: 1 },
        ],
      },
    ],
  };
  const j = parseJunit(renderJunit(report));
  expect(j.attrs).toMatchObject({ tests: '4', failures: '2', skipped: '1' });
  expect(j.suites[0]!.cases[0]!.failure).toEqual({
    message: 'run <error> & more',
    text: 'run <error> & more',
  });
  const state = j.suites[1]!;
  expect(state.properties.checklist).toBe('C & D');
  expect(state.cases[0]!.failure!.message).toBe('a <b> & "c" \'d\'  end');
  expect(state.cases[1]!.skipped).toEqual({ message: 'why' });
  expect(state.cases[2]!.out).toBe('WARN: T3: hmm');
});
