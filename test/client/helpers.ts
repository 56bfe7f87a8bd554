// Helpers for the client tests: a client wired to a sandbox (its clock, a sleep that moves that clock instead of
// waiting), a fetch that records what went over the wire, and hand-made Noon responses.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  loadCredentials,
  NoonClient,
  type NoonClientOptions,
  type NoonCredentials,
  type NoonLogEntry,
  NoonOAuth,
  NoonSession,
} from '../../src/client/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { UA } from '../helpers/sandbox.js';

export interface Harness {
  client: NoonClient;
  /** Every wait the client asked for, in ms. */
  sleeps: number[];
  logs: NoonLogEntry[];
}

/** A client on the sandbox: sandbox clock; sleeping advances the sandbox clock (never real time). */
export function clientFor(sb: Sandbox, options: Partial<NoonClientOptions> = {}): Harness {
  const sleeps: number[] = [];
  const logs: NoonLogEntry[] = [];
  const client = new NoonClient({
    environment: { local: sb.url },
    userAgent: UA,
    clock: { now: () => sb.clock.now() },
    sleep: async (ms) => {
      sleeps.push(ms);
      sb.clock.advance(ms);
    },
    logger: (e) => logs.push(e),
    ...options,
  });
  return { client, sleeps, logs };
}

const credentialsCache = new WeakMap<Sandbox, Promise<NoonCredentials>>();

/** The sandbox's integrator key file, loaded once per sandbox (from the key file path it wrote). */
export function integratorCredentials(sb: Sandbox): Promise<NoonCredentials> {
  let c = credentialsCache.get(sb);
  if (!c) {
    c = loadCredentials(sb.fixtures.integrator.keyFile!);
    credentialsCache.set(sb, c);
  }
  return c;
}

export async function integratorSession(sb: Sandbox, client: NoonClient): Promise<NoonSession> {
  return new NoonSession(client, await integratorCredentials(sb));
}

export async function oauthFor(sb: Sandbox, client: NoonClient): Promise<NoonOAuth> {
  return new NoonOAuth({
    session: await integratorSession(sb, client),
    clientId: sb.fixtures.client.clientId,
    clientSecret: sb.fixtures.client.clientSecret,
  });
}

export interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
  status?: number;
  setCookies?: string[];
}

/** global fetch, recording each request and the status and Set-Cookie lines of its answer. */
export function recordingFetch(): { fetch: typeof fetch; calls: Recorded[] } {
  const calls: Recorded[] = [];
  const f = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const rec: Recorded = {
      method: init?.method ?? 'GET',
      url: String(input),
      headers,
      body: typeof init?.body === 'string' ? init.body : undefined,
    };
    calls.push(rec);
    const res = await fetch(input, init);
    rec.status = res.status;
    rec.setCookies = res.headers.getSetCookie();
    return res;
  };
  return { fetch: f as typeof fetch, calls };
}

/** A hand-made response as Noon might send it. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** A plain HTTP server on loopback that records every request it gets (a place a redirect might point to). */
export async function recordingServer(): Promise<{
  url: string;
  requests: { url: string; headers: Record<string, unknown> }[];
  close: () => Promise<void>;
  server: Server;
}> {
  const requests: { url: string; headers: Record<string, unknown> }[] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: { ...req.headers } });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A loopback port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Runs `fn`, expecting it to reject; returns the error. */
export async function caught(fn: () => Promise<unknown>): Promise<any> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
