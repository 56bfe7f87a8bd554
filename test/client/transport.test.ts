// The transport against the sandbox over real HTTP, with the built-in undici pool and with an injected fetch:
// redirects never followed (U3), connect failures retried with jittered back-off (U4), the deadline on hung and
// trickling answers (U11), which calls are resent after a reset, and the body limit (U2).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NoonClient, NoonError, NoonSession } from '../../src/client/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { startSandbox, UA } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';
import {
  caught,
  clientFor,
  closedPort,
  integratorCredentials,
  oauthFor,
  recordingServer,
} from './helpers.js';

let sb: Sandbox;
const clients: NoonClient[] = [];
const count = (endpoint: string) => sb.journal.count({ endpoint });

beforeAll(async () => {
  sb = await startSandbox();
});
afterEach(() => {
  sb.faults.clear();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sb.close();
});

const tcpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

/**
 * A gateway stand-in that logs anyone in, then stalls: `/hang` never answers, `/trickle` sends a byte every
 * 20 ms. `closed(path)` resolves when the socket that carried that request has closed.
 */
async function stallingServer() {
  const closedPaths = new Map<string, Promise<void>>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '').slice(1);
    if (req.url === '/identity/public/v1/api/login') {
      res.writeHead(200, {
        'set-cookie': '_npsid=s1; Max-Age=2592000; HttpOnly; Path=/',
        'content-type': 'application/json',
      });
      res.end('{}');
      return;
    }
    closedPaths.set(path, new Promise((r) => req.socket.once('close', () => r())));
    if (path === 'trickle') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      const t = setInterval(() => res.write(' '), 20);
      res.on('close', () => clearInterval(t));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    closed: async (path: string) => {
      await waitFor(`the sandbox to see ${path} closed`, () => closedPaths.has(path));
      await Promise.race([
        closedPaths.get(path),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`socket of /${path} still open`)), 1_000),
        ),
      ]);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const WIRES = [
  ['undici pool', {}],
  ['injected fetch', { fetch: (input: string, init: RequestInit) => fetch(input, init) }],
] as const;

function harness(options: Parameters<typeof clientFor>[1] = {}) {
  const h = clientFor(sb, options);
  clients.push(h.client);
  return h;
}

describe.each(WIRES)('over the %s', (_wire, wireOptions) => {
  it('U3 a 3xx from a Noon endpoint is not followed: REDIRECT, and the target never sees a request or a cookie', async () => {
    const target = await recordingServer();
    try {
      const { client } = harness(wireOptions);
      const session = new NoonSession(client, await integratorCredentials(sb));
      await session.login();
      sb.addFault({
        endpoint: 'whoami',
        action: { type: 'redirect', location: `${target.url}/steal`, status: 307 },
      });
      const e1 = await caught(() => session.whoami());
      expect(e1).toBeInstanceOf(NoonError);
      expect(e1.code).toBe('REDIRECT');
      expect(e1.status).toBe(307);
      const oauth = await oauthFor(sb, client);
      sb.addFault({
        endpoint: 'token.create',
        action: { type: 'redirect', location: `${target.url}/steal` },
      });
      const e2 = await caught(() => oauth.createToken(sb.authorize().code));
      expect(e2.code).toBe('REDIRECT');
      sb.addFault({
        endpoint: 'login',
        action: { type: 'redirect', location: `${target.url}/steal`, status: 308 },
      });
      const e3 = await caught(() => new NoonSession(client, session.credentials).login());
      expect(e3.code).toBe('REDIRECT');
      expect(target.requests).toEqual([]);
    } finally {
      await target.close();
    }
  });

  it('U11 a hung answer hits the per-request deadline: TIMEOUT for whoami', async () => {
    const { client } = harness({ ...wireOptions, timeoutMs: 300 });
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    sb.addFault({ endpoint: 'whoami', action: { type: 'hang' } });
    const started = performance.now();
    const err = await caught(() => session.whoami());
    const elapsed = performance.now() - started;
    expect(err.code).toBe('TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
    // The next call works on a fresh connection.
    expect((await session.whoami()).userCode).toBe(sb.fixtures.integrator.userCode);
  });

  it('U11 a trickling body hits the same deadline (it is not an idle timeout)', async () => {
    const { client } = harness({ ...wireOptions, timeoutMs: 400 });
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    // One byte every 20 ms: never idle for long, but the whole body would take seconds.
    sb.addFault({ endpoint: 'whoami', action: { type: 'trickle', intervalMs: 20 } });
    const started = performance.now();
    const err = await caught(() => session.whoami());
    expect(err.code).toBe('TIMEOUT');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('U11 when the deadline fires the client closes the socket, and close() leaves no socket behind', async () => {
    const stalls = await stallingServer();
    const baseline = tcpSockets();
    const client = new NoonClient({
      environment: { local: stalls.url },
      userAgent: UA,
      timeoutMs: 200,
      ...wireOptions,
    });
    try {
      const session = new NoonSession(client, await integratorCredentials(sb));
      for (const path of ['hang', 'trickle']) {
        const err = await caught(() => session.request('GET', `/${path}`));
        expect(err.code).toBe('TIMEOUT');
        // The server sees its side of the connection closed right after the deadline.
        await stalls.closed(path);
      }
    } finally {
      await client.close();
      await stalls.close();
    }
    await waitFor('the sockets to close', () => tcpSockets() <= baseline);
  });

  it('U11 token/create that hangs is OUTCOME_UNKNOWN after the deadline and is not resent', async () => {
    const { client } = harness({ ...wireOptions, timeoutMs: 300 });
    const oauth = await oauthFor(sb, client);
    await oauth.session.login();
    sb.addFault({ endpoint: 'token.create', action: { type: 'hang', commit: true } });
    const before = count('token.create');
    const err = await caught(() => oauth.createToken(sb.authorize().code));
    expect(err.code).toBe('OUTCOME_UNKNOWN');
    expect(err.endpoint).toBe('token.create');
    expect(count('token.create')).toBe(before + 1);
  });

  it('U5 login and GETs are resent once after a connection reset; a second reset fails with NETWORK', async () => {
    const { client } = harness(wireOptions);
    const session = new NoonSession(client, await integratorCredentials(sb));
    sb.addFault({ endpoint: 'login', action: { type: 'reset' } });
    sb.addFault({ endpoint: 'whoami', action: { type: 'reset' } });
    const logins = count('login');
    const whoamis = count('whoami');
    await session.whoami();
    expect(count('login')).toBe(logins + 2);
    expect(count('whoami')).toBe(whoamis + 2);
    sb.addFault({ endpoint: 'whoami', action: { type: 'reset' }, times: 2 });
    const err = await caught(() => session.whoami());
    expect(err.code).toBe('NETWORK');
    expect(err.attempts).toBe(2);
  });

  it('U2 an oversize answer (2 MB) stops at the 1 MB limit: RESPONSE_TOO_LARGE', async () => {
    const { client } = harness(wireOptions);
    const session = new NoonSession(client, await integratorCredentials(sb));
    await session.login();
    sb.addFault({ endpoint: 'whoami', action: { type: 'malformed', body: 'oversize' } });
    const err = await caught(() => session.whoami());
    expect(err.code).toBe('RESPONSE_TOO_LARGE');
    expect((await session.whoami()).keyId).toBe(sb.fixtures.integrator.key!.key_id);
  });

  it('U4 connection refused: bounded retries with jittered back-off (injected sleep), then NETWORK; no Noon call made', async () => {
    const port = await closedPort();
    const sleeps: number[] = [];
    const fractions = [0, 1, 0.5];
    const client = new NoonClient({
      environment: { local: `http://127.0.0.1:${port}` },
      userAgent: UA,
      ...wireOptions,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: { uuid: () => crypto.randomUUID(), fraction: () => fractions.shift() ?? 0 },
      retry: { connectRetries: 3, baseDelayMs: 100, maxDelayMs: 1_000 },
    });
    clients.push(client);
    const session = new NoonSession(client, await integratorCredentials(sb));
    const err = await caught(() => session.whoami());
    expect(err.code).toBe('NETWORK');
    expect(err.endpoint).toBe('login');
    expect(err.attempts).toBe(4);
    // Caps 100, 200, 400 ms; each wait is half the cap plus the jitter fraction of the other half.
    expect(sleeps).toEqual([50, 200, 300]);
  });
});

describe('connect failures that are not the loopback kind', () => {
  it('U4 a DNS failure is retried with back-off too, then NETWORK', async () => {
    const sleeps: number[] = [];
    const client = new NoonClient({
      environment: {
        authorizeUrl: 'https://noon-connect-test.invalid/',
        gatewayUrl: 'https://noon-connect-test.invalid',
      },
      userAgent: UA,
      timeoutMs: 5_000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      retry: { connectRetries: 2, baseDelayMs: 10 },
    });
    clients.push(client);
    const session = new NoonSession(client, await integratorCredentials(sb));
    const err = await caught(() => session.whoami());
    expect(err.code).toBe('NETWORK');
    expect(err.attempts).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  it('U4 a connect failure on token/create is retried (nothing was sent), while a failure after sending is not', async () => {
    const failures = [
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
      }),
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('socket'), { code: 'UND_ERR_SOCKET' }),
      }),
    ];
    let createCalls = 0;
    const fetchFn = async (input: string, init: RequestInit) => {
      if (input.endsWith('/token/create')) {
        createCalls++;
        const f = failures.shift();
        if (f) throw f;
      }
      return fetch(input, init);
    };
    const { client, sleeps } = harness({ fetch: fetchFn });
    const oauth = await oauthFor(sb, client);
    const err = await caught(() => oauth.createToken(sb.authorize().code));
    // First attempt refused (retried after a back-off), second broke after sending: unknown, not resent.
    expect(err.code).toBe('OUTCOME_UNKNOWN');
    expect(createCalls).toBe(2);
    expect(sleeps).toHaveLength(1);
  });

  it('U11 the caller can abort a call: ABORTED, and the connection is closed', async () => {
    const stalls = await stallingServer();
    const client = new NoonClient({ environment: { local: stalls.url }, userAgent: UA });
    try {
      const session = new NoonSession(client, await integratorCredentials(sb));
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const err = await caught(() => session.request('GET', '/hang', { signal: ac.signal }));
      expect(err.code).toBe('ABORTED');
      await stalls.closed('hang');
    } finally {
      await client.close();
      await stalls.close();
    }
  });
});
