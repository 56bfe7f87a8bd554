// Scripted faults against a running sandbox, in-process (`sb.addFault`) and through the admin API: injected
// statuses and 5xx (NC40), latency, hangs, resets, commit-then-drop, every malformed body, mutations, trickled
// bytes, rate limits (NC38), redirects, and how often a fault fires (times, always, fraction, '*', clearing).

import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MALFORMED_BODIES, type Sandbox } from '../../src/sandbox/index.js';
import { gw, integratorLogin, loginJwt, startSandbox } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';
import {
  CATALOG,
  cookieValues,
  expectErrorShape,
  expectNoSecrets,
  LOGIN,
  raw,
  UA,
  WHOAMI,
} from './gateway-helpers.js';

let sb: Sandbox;
let cookie: string;
/** Values the fault `fraction` draws, in order; 0.999 (never below a fraction) once used up. */
const draws: number[] = [];
const unexpected: unknown[] = [];
/** Login JWTs and session cookies this file used. */
const secrets = new Set<string>();

beforeAll(async () => {
  sb = await startSandbox({
    random: {
      bytes: (n) => randomBytes(n),
      uuid: () => randomUUID(),
      fraction: () => draws.shift() ?? 0.999,
    },
    onError: (e) => unexpected.push(e),
  });
  cookie = await integratorLogin(sb);
  for (const v of cookieValues(cookie)) secrets.add(v);
  secrets.add(sb.fixtures.integrator.key!.private_key);
});

beforeEach(() => {
  sb.faults.clear();
  draws.length = 0;
});

afterAll(async () => {
  await sb?.close();
});

const ua = { 'user-agent': UA };

async function loginBody(): Promise<string> {
  const key = sb.fixtures.integrator.key!;
  const token = await loginJwt(key, { nowS: Math.floor(sb.clock.now() / 1000) });
  secrets.add(token);
  return JSON.stringify({ token, default_project_code: key.project_code });
}

function me() {
  return raw(sb, WHOAMI, { headers: { ...ua, cookie } });
}

async function adminAdd(spec: unknown) {
  return gw(sb, '/_sandbox/faults', { body: spec });
}

describe('what a fault answers', () => {
  it('NC40 a status fault injects a 5xx with its body and headers, and the endpoint does nothing', async () => {
    const sessions = sb.world.sessions.size;
    sb.addFault({
      endpoint: 'login',
      action: {
        type: 'status',
        status: 503,
        body: { code: 14, message: 'upstream busy' },
        headers: { 'Retry-After': '2' },
      },
    });
    const res = await raw(sb, LOGIN, { headers: ua, body: await loginBody() });
    expect(res.status).toBe(503);
    expect(res.json).toEqual({ code: 14, message: 'upstream busy' });
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['retry-after']).toBe('2');
    expect(res.cookies).toEqual([]);
    expect(sb.world.sessions.size).toBe(sessions);
    const entry = sb.journal.entries({ endpoint: 'login' }).at(-1)!;
    expect(entry).toMatchObject({ status: 503, fault: 'status' });
    // Other 5xx, and a plain-text body.
    for (const status of [500, 502, 504]) {
      sb.addFault({ endpoint: 'whoami', action: { type: 'status', status, body: 'gateway trouble' } });
      const r = await me();
      expect(r.status).toBe(status);
      expect(r.text).toBe('gateway trouble');
      expect(r.headers['content-type']).toBe('text/plain');
      expect(r.headers['x-request-id']).toBeTruthy();
    }
    expect((await me()).status).toBe(200);
  });

  it('NC40 a status fault with commit runs the endpoint first: the session exists though the client saw a 500', async () => {
    const sessions = sb.world.sessions.size;
    sb.addFault({ endpoint: 'login', action: { type: 'status', status: 500, commit: true } });
    const res = await raw(sb, LOGIN, { headers: ua, body: await loginBody() });
    expect(res.status).toBe(500);
    expect(res.cookies).toEqual([]);
    expect(sb.world.sessions.size).toBe(sessions + 1);
  });

  it('latency delays the answer, which is then the real one', async () => {
    sb.addFault({ endpoint: 'whoami', action: { type: 'latency', ms: 150 } });
    const t0 = performance.now();
    const res = await me();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(res.status).toBe(200);
    expect(res.json.key_id).toBe(sb.fixtures.integrator.key!.key_id);
    const t1 = performance.now();
    await me();
    expect(performance.now() - t1).toBeLessThan(140);
  });

  it('hang: the client times out, the journal shows no answer, and the next call is served', async () => {
    sb.addFault({ endpoint: 'whoami', action: { type: 'hang' } });
    const since = sb.journal.lastSeq;
    await expect(raw(sb, WHOAMI, { headers: { ...ua, cookie }, timeoutMs: 200 })).rejects.toThrow(
      /client timeout/,
    );
    const entry = sb.journal.entries({ sinceSeq: since, endpoint: 'whoami' })[0]!;
    expect(entry).toMatchObject({ status: 0, fault: 'hang' });
    expect((await me()).status).toBe(200);
  });

  it('hang: sb.close() still finishes promptly with a request hung open', async () => {
    const other = await startSandbox();
    const c = await integratorLogin(other);
    other.addFault({ endpoint: 'whoami', action: { type: 'hang' }, always: true });
    const hung = raw(other, WHOAMI, { headers: { ...ua, cookie: c }, timeoutMs: 20_000 });
    const settled = hung.then(
      () => 'answered',
      (e: Error) => e.message,
    );
    // Make sure the request reached the server before closing.
    await waitFor(
      'the hung whoami to reach the sandbox',
      () => other.journal.count({ endpoint: 'whoami' }) > 0,
    );
    expect(other.journal.count({ endpoint: 'whoami' })).toBe(1);
    const t0 = performance.now();
    await other.close();
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(await settled).not.toBe('answered');
  });

  it('reset: the client sees a socket error mid-response; by default the work was done, with commit:false it was not', async () => {
    let sessions = sb.world.sessions.size;
    sb.addFault({ endpoint: 'login', action: { type: 'reset' } });
    await expect(raw(sb, LOGIN, { headers: ua, body: await loginBody() })).rejects.toThrow();
    expect(sb.world.sessions.size).toBe(sessions + 1);
    expect(sb.journal.entries({ endpoint: 'login' }).at(-1)).toMatchObject({ status: 0, fault: 'reset' });

    sessions = sb.world.sessions.size;
    sb.addFault({ endpoint: 'login', action: { type: 'reset', commit: false } });
    await expect(raw(sb, LOGIN, { headers: ua, body: await loginBody() })).rejects.toThrow();
    expect(sb.world.sessions.size).toBe(sessions);
    expect((await raw(sb, LOGIN, { headers: ua, body: await loginBody() })).status).toBe(200);
  });

  it('commit-then-drop on login: a session is created but the client gets a socket error', async () => {
    const before = new Set([...sb.world.sessions.values()].map((s) => s.id));
    const since = sb.journal.lastSeq;
    sb.addFault({ endpoint: 'login', action: { type: 'commit-then-drop' } });
    await expect(raw(sb, LOGIN, { headers: ua, body: await loginBody() })).rejects.toThrow();
    const entries = sb.journal.entries({ sinceSeq: since, endpoint: 'login' });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      method: 'POST',
      status: 0,
      fault: 'commit-then-drop',
      project: sb.fixtures.integrator.projectCode,
    });
    const created = [...sb.world.sessions.values()].filter((s) => !before.has(s.id));
    expect(created).toHaveLength(1);
    // The session is real: its cookie (which the client never got) works.
    const r = await raw(sb, WHOAMI, { headers: { ...ua, cookie: `_npsid=${created[0]!.id}` } });
    expect(r.status).toBe(200);
  });

  it('malformed: every body variant arrives as described, with status 200', async () => {
    const seen = new Set<string>();
    for (const kind of MALFORMED_BODIES) {
      sb.addFault({ endpoint: 'whoami', action: { type: 'malformed', body: kind } });
      const res = await me();
      expect(res.status, kind).toBe(200);
      expect(sb.journal.entries({ endpoint: 'whoami' }).at(-1)!.fault).toBe('malformed');
      const text = res.text;
      switch (kind) {
        case 'html':
          expect(res.headers['content-type']).toBe('text/html');
          expect(text).toMatch(/^<!doctype html>/i);
          break;
        case 'truncated':
          expect(() => JSON.parse(text)).toThrow();
          expect(text.startsWith('{"')).toBe(true);
          break;
        case 'open-brace':
          expect(text).toBe('{"');
          break;
        case 'null':
          expect(text).toBe('null');
          break;
        case 'array':
          expect(text).toBe('[]');
          break;
        case 'empty':
          expect(res.body.length).toBe(0);
          break;
        case 'wrong-types': {
          const j = JSON.parse(text);
          expect(typeof j.access_token).toBe('number');
          expect(Array.isArray(j.token_type)).toBe(true);
          expect(typeof j.expires_in).toBe('object');
          break;
        }
        case 'oversize':
          expect(res.body.length).toBeGreaterThan(1024 * 1024);
          expect(() => JSON.parse(text)).not.toThrow();
          break;
        case 'invalid-utf8':
          expect(res.body.includes(Buffer.from([0xff, 0xfe]))).toBe(true);
          expect(Buffer.from(text, 'utf8').equals(res.body)).toBe(false);
          break;
        default:
          throw new Error(`no check for ${kind}`);
      }
      seen.add(kind);
    }
    expect([...seen].sort()).toEqual([...MALFORMED_BODIES].sort());
    expect((await me()).status).toBe(200);
  });

  it('mutate sets and drops fields (dotted paths) in the real answer', async () => {
    sb.addFault({
      endpoint: 'whoami',
      action: {
        type: 'mutate',
        set: { project_code: 'PRJ99999', 'extra.nested': [1] },
        drop: ['projects', 'nope.x'],
      },
    });
    const res = await me();
    expect(res.status).toBe(200);
    expect(res.json.project_code).toBe('PRJ99999');
    expect(res.json.extra).toEqual({ nested: [1] });
    expect(res.json).not.toHaveProperty('projects');
    expect(res.json.key_id).toBe(sb.fixtures.integrator.key!.key_id);
    // Applies to error answers too.
    sb.addFault({ endpoint: 'whoami', action: { type: 'mutate', drop: ['details'] } });
    const err = await raw(sb, WHOAMI, { headers: ua });
    expect(err.status).toBe(401);
    expect(err.json).not.toHaveProperty('details');
    expect(err.json.code).toBe(16);
  });

  it('trickle sends the real answer a byte at a time', async () => {
    const full = await me();
    sb.addFault({ endpoint: 'whoami', action: { type: 'trickle', intervalMs: 1 } });
    const url = new URL(sb.url);
    const { request } = await import('node:http');
    const chunks: Buffer[] = [];
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { hostname: url.hostname, port: url.port, path: WHOAMI, headers: { ...ua, cookie }, agent: false },
        (res) => {
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    expect(Buffer.concat(chunks).toString()).toBe(full.text);
    expect(chunks.length).toBeGreaterThan(10);
    expect(sb.journal.entries({ endpoint: 'whoami' }).at(-1)!.fault).toBe('trickle');
    // Without commit the endpoint does nothing, and the stand-in 503 is what trickles.
    sb.addFault({ endpoint: 'whoami', action: { type: 'trickle', intervalMs: 1, commit: false } });
    expectErrorShape(await me(), 503, 'UNAVAILABLE');
  });

  it('NC38 NC37 a rate-limit fault answers 429 with Retry-After and X-Ratelimit-Retry-After', async () => {
    sb.addFault({ endpoint: 'whoami', action: { type: 'rate-limit', retryAfter: 7 } });
    const res = await me();
    expectErrorShape(res, 429, 'RATE_LIMITED');
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['x-ratelimit-retry-after']).toBe('7');
    sb.addFault({ endpoint: 'whoami', action: { type: 'rate-limit' } });
    expect((await me()).headers['retry-after']).toBe('1');
  });

  it('redirect answers 3xx with Location, and the endpoint does nothing', async () => {
    const sessions = sb.world.sessions.size;
    sb.addFault({ endpoint: 'login', action: { type: 'redirect', location: 'https://evil.example/steal' } });
    const res = await raw(sb, LOGIN, { headers: ua, body: await loginBody() });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('https://evil.example/steal');
    expect(res.cookies).toEqual([]);
    expect(sb.world.sessions.size).toBe(sessions);
    sb.addFault({ endpoint: 'whoami', action: { type: 'redirect', location: '/elsewhere', status: 307 } });
    const r307 = await me();
    expect(r307.status).toBe(307);
    expect(r307.headers.location).toBe('/elsewhere');
  });
});

describe('how often a fault fires', () => {
  it('times: N affects exactly N matching calls', async () => {
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 502 }, times: 2 });
    expect([(await me()).status, (await me()).status, (await me()).status]).toEqual([502, 502, 200]);
    expect(sb.faults.list()).toEqual([]);
  });

  it('a fault on one endpoint leaves the others alone; the default is once', async () => {
    sb.addFault({ endpoint: 'catalog.items', action: { type: 'status', status: 500 } });
    expect((await me()).status).toBe(200);
    expect((await raw(sb, CATALOG, { headers: { ...ua, cookie } })).status).toBe(500);
    expect((await raw(sb, CATALOG, { headers: { ...ua, cookie } })).status).toBe(200);
  });

  it('always affects every call until cleared, in-process or through DELETE /_sandbox/faults', async () => {
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 503 }, always: true });
    for (let i = 0; i < 5; i++) expect((await me()).status).toBe(503);
    expect(sb.faults.list()[0]!.triggered).toBe(5);
    sb.faults.clear();
    expect((await me()).status).toBe(200);
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 503 }, always: true });
    expect((await me()).status).toBe(503);
    const del = await gw(sb, '/_sandbox/faults', { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await me()).status).toBe(200);
  });

  it("'*' matches every faultable endpoint", async () => {
    sb.addFault({ endpoint: '*', action: { type: 'status', status: 500 }, times: 3 });
    expect((await me()).status).toBe(500);
    expect((await raw(sb, CATALOG, { headers: { ...ua, cookie } })).status).toBe(500);
    expect((await raw(sb, LOGIN, { headers: ua, body: await loginBody() })).status).toBe(500);
    expect((await me()).status).toBe(200);
    // The admin API, the index page and the Access App are never faulted.
    sb.addFault({ endpoint: '*', action: { type: 'status', status: 500 }, always: true });
    expect((await raw(sb, '/_sandbox/status')).status).toBe(200);
    expect((await raw(sb, '/')).status).toBe(200);
    expect((await raw(sb, '/access/oauth')).status).toBe(200);
  });

  it('fraction draws from the injected random: a call is affected when the draw is below the fraction', async () => {
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 503 }, fraction: 0.3, always: true });
    draws.push(0.7, 0.29, 0.3, 0.0, 0.95);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await me()).status);
    expect(statuses).toEqual([200, 503, 200, 503, 200]);
    expect(sb.faults.list()[0]!.triggered).toBe(2);
    // With times, only affected calls use it up.
    sb.faults.clear();
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 503 }, fraction: 0.5, times: 1 });
    draws.push(0.9, 0.9, 0.1, 0.1);
    expect([(await me()).status, (await me()).status, (await me()).status, (await me()).status]).toEqual([
      200, 200, 503, 200,
    ]);
  });

  it('a fault is taken only after the gateway checks pass, so a refused request does not use it up', async () => {
    sb.addFault({ endpoint: 'whoami', action: { type: 'status', status: 503 } });
    expectErrorShape(await raw(sb, WHOAMI, { headers: { cookie } }), 400, 'USER_AGENT_REQUIRED');
    expectErrorShape(await raw(sb, WHOAMI, { method: 'DELETE', headers: { ...ua, cookie } }), 405);
    expect(sb.faults.list()).toHaveLength(1);
    expect((await me()).status).toBe(503);
  });
});

describe('faults through the admin API', () => {
  it('POST /_sandbox/faults adds (201 with an id), GET lists, DELETE /_sandbox/faults/<id> removes one', async () => {
    const a = await adminAdd({ endpoint: 'whoami', action: { type: 'status', status: 500 }, always: true });
    const b = await adminAdd({ endpoint: 'catalog.items', action: { type: 'latency', ms: 1 }, times: 3 });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.json.id).not.toBe(b.json.id);
    const list = await gw(sb, '/_sandbox/faults');
    expect(list.json.faults.map((f: { id: string }) => f.id)).toEqual([a.json.id, b.json.id]);
    expect(list.json.faults[1]).toMatchObject({ endpoint: 'catalog.items', remaining: 3, triggered: 0 });
    expect((await me()).status).toBe(500);
    expect((await gw(sb, `/_sandbox/faults/${a.json.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await me()).status).toBe(200);
    expectErrorShape(await gw(sb, `/_sandbox/faults/${a.json.id}`, { method: 'DELETE' }), 404, 'NOT_FOUND');
    expect((await gw(sb, '/_sandbox/faults')).json.faults).toHaveLength(1);
  });

  it('NC40 a 5xx fault added through the admin API reaches the client', async () => {
    await adminAdd({
      endpoint: 'whoami',
      action: { type: 'status', status: 502, body: { upstream: 'down' } },
    });
    const res = await me();
    expect(res.status).toBe(502);
    expect(res.json).toEqual({ upstream: 'down' });
  });

  it('invalid fault specs → 400 naming the bad field, and nothing is added', async () => {
    const bad: [unknown, RegExp][] = [
      [[], /JSON object/],
      [{ endpoint: 'whoami', action: null }, /fault\.action\.type must be one of/],
      [{ action: { type: 'hang' } }, /fault\.endpoint must be one of/],
      [{ endpoint: 'nowhere', action: { type: 'hang' } }, /fault\.endpoint must be one of/],
      [{ endpoint: 'whoami' }, /fault\.action\.type must be one of/],
      [{ endpoint: 'whoami', action: { type: 'explode' } }, /fault\.action\.type must be one of/],
      [{ endpoint: 'whoami', action: { type: 'status' } }, /fault\.action\.status/],
      [{ endpoint: 'whoami', action: { type: 'status', status: 700 } }, /fault\.action\.status/],
      [{ endpoint: 'whoami', action: { type: 'status', status: 101 } }, /fault\.action\.status/],
      [{ endpoint: 'whoami', action: { type: 'status', status: '500' } }, /fault\.action\.status/],
      [
        { endpoint: 'whoami', action: { type: 'status', status: 500, headers: [] } },
        /fault\.action\.headers/,
      ],
      [
        { endpoint: 'whoami', action: { type: 'status', status: 500, headers: { 'a b': 'x' } } },
        /bad header name/,
      ],
      [
        { endpoint: 'whoami', action: { type: 'status', status: 500, headers: { x: 'a\r\nset-cookie: y' } } },
        /without CR, LF/,
      ],
      [
        { endpoint: 'whoami', action: { type: 'status', status: 500, headers: { x: 5 } } },
        /fault\.action\.headers\.x/,
      ],
      [
        { endpoint: 'whoami', action: { type: 'status', status: 500, commit: 'yes' } },
        /fault\.action\.commit must be a boolean/,
      ],
      [{ endpoint: 'whoami', action: { type: 'latency' } }, /fault\.action\.ms/],
      [{ endpoint: 'whoami', action: { type: 'latency', ms: -1 } }, /fault\.action\.ms/],
      [{ endpoint: 'whoami', action: { type: 'latency', ms: 10_000_000 } }, /fault\.action\.ms/],
      [
        { endpoint: 'whoami', action: { type: 'malformed', body: 'xml' } },
        /fault\.action\.body must be one of/,
      ],
      [{ endpoint: 'whoami', action: { type: 'mutate', set: 'x' } }, /fault\.action\.set must be an object/],
      [{ endpoint: 'whoami', action: { type: 'mutate', drop: 'x' } }, /fault\.action\.drop must be an array/],
      [
        { endpoint: 'whoami', action: { type: 'mutate', set: { '__proto__.polluted': 1 } } },
        /bad segment: __proto__/,
      ],
      [
        { endpoint: 'whoami', action: { type: 'mutate', set: { 'constructor.prototype.x': 1 } } },
        /bad segment/,
      ],
      [{ endpoint: 'whoami', action: { type: 'mutate', drop: ['a..b'] } }, /bad segment/],
      [{ endpoint: 'whoami', action: { type: 'trickle', intervalMs: 0 } }, /fault\.action\.intervalMs/],
      [{ endpoint: 'whoami', action: { type: 'trickle', intervalMs: 'slow' } }, /fault\.action\.intervalMs/],
      [{ endpoint: 'whoami', action: { type: 'rate-limit', retryAfter: -5 } }, /fault\.action\.retryAfter/],
      [
        { endpoint: 'whoami', action: { type: 'rate-limit', retryAfter: 'soon' } },
        /fault\.action\.retryAfter/,
      ],
      [{ endpoint: 'whoami', action: { type: 'redirect' } }, /fault\.action\.location/],
      [
        { endpoint: 'whoami', action: { type: 'redirect', location: 'x\r\ny: z' } },
        /fault\.action\.location/,
      ],
      [
        { endpoint: 'whoami', action: { type: 'redirect', location: '/x', status: 200 } },
        /fault\.action\.status must be one of/,
      ],
      [{ endpoint: 'whoami', action: { type: 'hang' }, times: 0 }, /fault\.times must be a positive integer/],
      [{ endpoint: 'whoami', action: { type: 'hang' }, times: 1.5 }, /fault\.times/],
      [{ endpoint: 'whoami', action: { type: 'hang' }, fraction: 0 }, /fault\.fraction/],
      [{ endpoint: 'whoami', action: { type: 'hang' }, fraction: 2 }, /fault\.fraction/],
      [{ endpoint: 'whoami', action: { type: 'hang' }, always: 'yes' }, /fault\.always must be a boolean/],
    ];
    for (const [spec, message] of bad) {
      const res = await adminAdd(spec);
      expectErrorShape(res, 400, 'INVALID_ARGUMENT');
      expect(res.json.message, JSON.stringify(spec)).toMatch(message);
      // The in-process call refuses the same spec with a TypeError.
      expect(() => sb.addFault(spec as never)).toThrow(TypeError);
    }
    const notJson = await gw(sb, '/_sandbox/faults', {
      raw: '{endpoint',
      headers: { 'content-type': 'application/json' },
    });
    expectErrorShape(notJson, 400, 'INVALID_ARGUMENT');
    expect(sb.faults.list()).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await me()).status).toBe(200);
  });

  it('a spec is copied when added: changing the caller object later changes nothing', async () => {
    const spec = { endpoint: 'whoami' as const, action: { type: 'status' as const, status: 503 } };
    sb.addFault(spec);
    (spec.action as { status: number }).status = 200;
    expect((await me()).status).toBe(503);
  });
});

describe('health', () => {
  it('no fault above made the sandbox report an unexpected error', () => {
    expect(unexpected).toEqual([]);
  });

  it('the journal holds no login JWT, session cookie or PEM text, even for faulted requests', () => {
    for (const s of sb.world.sessions.values()) secrets.add(s.id).add(s.refreshId);
    expect(secrets.size).toBeGreaterThan(10);
    const text = JSON.stringify(sb.journal.entries());
    expect(sb.journal.entries().some((e) => e.fault !== undefined)).toBe(true);
    expectNoSecrets(text, secrets);
  });
});
