// The naive integrator for bench/connect.ts, the baseline a connect is measured against: an Express 5 app with
// express-session (its memory store) and axios that does only the quickstart's three calls. At start-up it logs
// in with the integrator's key (one RS256 JWT); /connect/start puts a random state in the session and redirects
// to the consent page; /connect/callback compares the state with the session's, calls token/create then
// token/exchange, answers 200 and keeps nothing. Controlled over IPC like the other bench children; reports its
// own CPU time (process.cpuUsage) so the bench can charge each process its share.

import { createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto';
import type { Server } from 'node:http';
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios, { type AxiosInstance } from 'axios';
import express from 'express';
import session from 'express-session';
import { type ChildMsg, serveParent } from './_child.js';

type Msg = ChildMsg;

declare module 'express-session' {
  interface SessionData {
    state?: string;
  }
}

let server: Server | undefined;

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

/** The integrator's login (NC5, NC6): an RS256 JWT signed with its key; the session cookies come back. */
async function login(api: AxiosInstance, key: { key_id: string; private_key: string; project_code: string }) {
  const iat = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: key.key_id })}.${b64({ sub: key.key_id, iat, exp: iat + 300, jti: randomUUID() })}`;
  const sig = sign('sha256', Buffer.from(input), createPrivateKey(key.private_key)).toString('base64url');
  const r = await api.post('/identity/public/v1/api/login', {
    token: `${input}.${sig}`,
    default_project_code: key.project_code,
  });
  const cookies = (r.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
  api.defaults.headers.common.cookie = cookies;
}

interface Config {
  sandboxUrl: string;
  integratorKey: { key_id: string; private_key: string; project_code: string };
  clientId: string;
  clientSecret: string;
}

let a: Config;
let api: AxiosInstance;

async function configure(c: Config): Promise<void> {
  a = c;
  api = axios.create({
    baseURL: c.sandboxUrl,
    httpAgent: new Agent({ keepAlive: true, maxSockets: 32 }),
    timeout: 15_000,
    headers: { 'user-agent': 'naive-integrator/1.0' },
  });
  await login(api, c.integratorKey);
}

/** The server comes first so the OAuth client can be registered with its callback URL. */
async function listen(): Promise<string> {
  const app = express();
  app.use(
    session({
      secret: randomBytes(32).toString('hex'),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
    }),
  );
  app.get('/connect/start', (req, res) => {
    const state = randomBytes(16).toString('base64url');
    req.session.state = state;
    const url = new URL('/', a.sandboxUrl);
    url.searchParams.set('client_id', a.clientId);
    url.searchParams.set('state', state);
    res.redirect(303, url.href);
  });
  app.get('/connect/callback', async (req, res) => {
    const { code, state } = req.query as { code?: string; state?: string };
    if (!code || !state || state !== req.session.state) {
      res.status(400).send('bad state');
      return;
    }
    try {
      const token = await api.post('/identity/oauth/v1/token/create', {
        grant_type: 'authorization_code',
        code,
        client_id: a.clientId,
        client_secret: a.clientSecret,
      });
      const exchanged = await api.post('/identity/oauth/v1/token/exchange', {
        access_token: token.data.access_token,
      });
      if (exchanged.data?.status?.code !== 0) throw new Error('exchange failed');
      res.status(200).send('connected');
    } catch {
      res.status(502).send('failed');
    }
  });
  const s = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => s.once('listening', () => r()));
  s.keepAliveTimeout = 30_000;
  server = s;
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

async function handle(m: Msg): Promise<unknown> {
  switch (m.op) {
    case 'listen':
      return { origin: await listen() };
    case 'configure':
      await configure(m.args);
      return { ok: true };
    case 'cpu':
      return process.cpuUsage();
    case 'close':
      if (server) {
        const s = server;
        const closed = new Promise<void>((r) => s.close(() => r()));
        s.closeAllConnections();
        await closed;
      }
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

serveParent(handle);
