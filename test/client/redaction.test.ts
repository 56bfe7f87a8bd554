// The secret search: the client's calls, good and failing (every fault kind the sandbox has), run with every log
// line and every error captured; none of the secrets used (client secret, codes, access tokens, session cookies,
// login JWTs, PEM text) may appear in a message, String(err), err.stack, JSON.stringify(err), inspect(err) or a
// log line.

import { createPrivateKey } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NoonApiUsers,
  NoonClient,
  type NoonLogEntry,
  NoonOAuth,
  NoonSession,
  parseCredentials,
  processExchangeBody,
} from '../../src/client/index.js';
import { type FaultSpec, MALFORMED_BODIES, type Sandbox } from '../../src/sandbox/index.js';
import { pemLine } from '../helpers/pem.js';
import { startSandbox, UA } from '../helpers/sandbox.js';
import { integratorCredentials, recordingFetch } from './helpers.js';

let sb: Sandbox;
const clients: NoonClient[] = [];
const logLines: string[] = [];
const errorTexts: string[] = [];
const secrets = {
  clientSecret: [] as string[],
  code: [] as string[],
  accessToken: [] as string[],
  cookie: [] as string[],
  jwt: [] as string[],
  pem: [] as string[],
};

function addPem(pem: string) {
  secrets.pem.push(pem);
  // Each base64 line of the key on its own: a fragment is as bad as the whole.
  for (const line of pem.split('\n'))
    if (line.length >= 40 && !line.startsWith('-----')) secrets.pem.push(line);
}

function captureError(e: unknown) {
  const err = e as Error;
  errorTexts.push(err.message, String(err), err.stack ?? '', JSON.stringify(err), inspect(err, { depth: 6 }));
}

/** Runs a call; its failure, if any, is captured (the secret search is the assertion). */
async function attempt(fn: () => Promise<unknown> | unknown): Promise<unknown> {
  try {
    return await fn();
  } catch (e) {
    captureError(e);
    return undefined;
  }
}

function makeClient(extra: Partial<ConstructorParameters<typeof NoonClient>[0]> = {}): NoonClient {
  const client = new NoonClient({
    environment: { local: sb.url },
    userAgent: UA,
    clock: { now: () => sb.clock.now() },
    sleep: async (ms) => {
      sb.clock.advance(ms);
    },
    logger: (entry: NoonLogEntry) => logLines.push(JSON.stringify(entry)),
    ...extra,
  });
  clients.push(client);
  return client;
}

async function runSuite(client: NoonClient) {
  const creds = await integratorCredentials(sb);
  const session = new NoonSession(client, creds);
  const { clientId, clientSecret } = sb.fixtures.client;
  const oauth = new NoonOAuth({ session, clientId, clientSecret });
  const code = (projectCode = 'PRJ20001') => {
    const c = sb.authorize({ projectCode }).code;
    secrets.code.push(c);
    return c;
  };
  const token = async (projectCode?: string) => {
    const t = await oauth.createToken(code(projectCode));
    secrets.accessToken.push(t.accessToken);
    return t;
  };
  const fault = (spec: FaultSpec) => sb.addFault(spec);

  // The happy path, including a seller session.
  await attempt(() => session.whoami());
  const t1 = await token('PRJ20003');
  const { response, rawBody } = await oauth.exchangeTokenRequest(t1.accessToken);
  addPem(JSON.parse(rawBody).result.private_key);
  const result = processExchangeBody(rawBody, response.status, { expectedProjectCode: t1.projectCode });
  const seller = new NoonSession(client, result.credentials);
  await attempt(() => seller.whoami());
  await attempt(() => seller.request('GET', '/catalog/v1/items', { query: { page: 1 } }));

  // Codes: used, unknown, expired, another client's secret.
  const used = code();
  secrets.accessToken.push((await oauth.createToken(used)).accessToken);
  await attempt(() => oauth.createToken(used));
  await attempt(() => oauth.createToken(`made-up-${used.slice(0, 6)}`));
  const old = code();
  sb.clock.advance(11 * 60_000);
  await attempt(() => oauth.createToken(old));
  const wrong = `wrong-${clientSecret}`;
  secrets.clientSecret.push(wrong);
  await attempt(() => new NoonOAuth({ session, clientId, clientSecret: wrong }).createToken(code()));

  // Access tokens: used, revoked, expired, another integrator's.
  await attempt(() => oauth.exchangeToken(t1.accessToken));
  const t2 = await token();
  await attempt(() => oauth.exchangeToken(t2.accessToken, { expectedProjectCode: 'PRJ99999' }));
  const t3 = await token();
  sb.clock.advance(3600_000 + 1000);
  await attempt(() => oauth.exchangeToken(t3.accessToken));

  // Every malformed body on both endpoints, and mutated results.
  const c = code();
  const t4 = await token();
  for (const body of MALFORMED_BODIES) {
    fault({ endpoint: 'token.create', action: { type: 'malformed', body } });
    await attempt(() => oauth.createToken(c));
    fault({ endpoint: 'token.exchange', action: { type: 'malformed', body } });
    await attempt(() => oauth.exchangeToken(t4.accessToken));
  }
  for (const drop of ['result.private_key', 'result.key_id', 'status', 'oauth_request_id']) {
    const t = await token();
    fault({ endpoint: 'token.exchange', action: { type: 'mutate', drop: [drop] } });
    const r = await attempt(() => oauth.exchangeTokenRequest(t.accessToken));
    if (r) {
      const { rawBody: raw, response: res } = r as { rawBody: string; response: Response };
      const pem = JSON.parse(raw).result?.private_key;
      if (pem) addPem(pem);
      await attempt(() => processExchangeBody(raw, res.status));
    }
  }
  const t5 = await token();
  fault({
    endpoint: 'token.exchange',
    action: { type: 'mutate', set: { status: { code: 9, message: 'no slots' } }, drop: ['result'] },
  });
  await attempt(() => oauth.exchangeToken(t5.accessToken));
  const t6 = await token();
  fault({
    endpoint: 'token.exchange',
    action: { type: 'mutate', set: { 'result.private_key': `${pemLine('BEGIN')}\nMIIEtrunc` } },
  });
  await attempt(() => oauth.exchangeToken(t6.accessToken));

  // Status faults, rate limits, redirects, resets, dropped answers.
  const c2 = code();
  const sessionBody = { code: 16, message: 'm', details: [{ reason: 'SESSION_EXPIRED' }] };
  fault({ endpoint: 'token.create', action: { type: 'status', status: 401, body: sessionBody }, times: 2 });
  await attempt(() => oauth.createToken(c2));
  fault({ endpoint: 'token.create', action: { type: 'status', status: 502, body: '<html>bad</html>' } });
  await attempt(() => oauth.createToken(c2));
  fault({ endpoint: 'token.create', action: { type: 'rate-limit', retryAfter: 1 }, times: 3 });
  await attempt(() => oauth.createToken(c2));
  fault({ endpoint: 'token.create', action: { type: 'redirect', location: 'http://127.0.0.1:9/steal' } });
  await attempt(() => oauth.createToken(c2));
  fault({ endpoint: 'token.create', action: { type: 'reset' } });
  await attempt(() => oauth.createToken(c2));
  const t7 = await token();
  fault({ endpoint: 'token.exchange', action: { type: 'commit-then-drop' } });
  await attempt(() => oauth.exchangeToken(t7.accessToken));
  fault({ endpoint: 'whoami', action: { type: 'reset' }, times: 2 });
  await attempt(() => session.whoami());
  fault({ endpoint: 'whoami', action: { type: 'redirect', location: '/elsewhere' } });
  await attempt(() => session.whoami());

  // API User Service, good and bad.
  const api = new NoonApiUsers({ session });
  const userCode = sb.fixtures.integrator.userCode;
  const created = (await attempt(() => api.createCredentialRequest({ userCode }))) as
    | { rawBody: string }
    | undefined;
  if (created) {
    addPem(JSON.parse(created.rawBody).private_key);
    await attempt(() => api.removeCredential({ userCode, keyId: JSON.parse(created.rawBody).key_id }));
  }
  await attempt(() => api.listCredentials({ userCode }));
  await attempt(() => api.removeCredential({ userCode, keyId: 'no-such-key' }));
  await attempt(() => api.listCredentials({ userCode: 'usr_nobody' }));
  fault({ endpoint: 'api_users.create', action: { type: 'commit-then-drop' } });
  await attempt(() => api.createCredential({ userCode }));

  // Logins Noon refuses, and a generic call that fails.
  await attempt(() => new NoonSession(client, creds, { projectCode: 'PRJ20001' }).login());
  await attempt(() => session.request('POST', '/no/such/api', { body: { secret: clientSecret } }));
}

beforeAll(async () => {
  sb = await startSandbox();
  const key = sb.fixtures.integrator.key!;
  addPem(key.private_key);
  addPem(createPrivateKey(key.private_key).export({ type: 'pkcs8', format: 'pem' }).toString());
  secrets.clientSecret.push(sb.fixtures.client.clientSecret);

  // Over the built-in pool, over a recording fetch (to learn the login JWTs), and with a short deadline.
  await runSuite(makeClient());
  const rec = recordingFetch();
  await runSuite(makeClient({ fetch: rec.fetch }));
  for (const call of rec.calls) {
    if (call.url.endsWith('/api/login') && call.body) secrets.jwt.push(JSON.parse(call.body).token);
  }
  const slow = makeClient({ timeoutMs: 150 });
  const s = new NoonSession(slow, await integratorCredentials(sb));
  await attempt(() => s.login());
  sb.addFault({ endpoint: 'whoami', action: { type: 'hang' } });
  await attempt(() => s.whoami());
  sb.addFault({ endpoint: 'token.create', action: { type: 'trickle', intervalMs: 20 } });
  const o = new NoonOAuth({
    session: s,
    clientId: sb.fixtures.client.clientId,
    clientSecret: sb.fixtures.client.clientSecret,
  });
  const c = sb.authorize().code;
  secrets.code.push(c);
  await attempt(() => o.createToken(c));

  // Key files with problems, as text and as objects.
  const mangled = key.private_key.replace(/[A-Z]{4}/, '!!!!');
  addPem(mangled);
  await attempt(() => parseCredentials({ ...key, private_key: mangled }));
  await attempt(() => parseCredentials(JSON.stringify({ ...key, key_id: 7 })));
  await attempt(() => parseCredentials(JSON.stringify(key).slice(0, -30)));

  // Every session cookie the sandbox ever issued.
  for (const sess of sb.world.sessions.values()) secrets.cookie.push(sess.id, sess.refreshId);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sb.close();
});

describe('secret search over captured errors and logs', () => {
  it('the suite used every kind of secret and captured errors and log lines of every kind', () => {
    for (const [kind, list] of Object.entries(secrets)) expect(list.length, kind).toBeGreaterThan(0);
    expect(errorTexts.length).toBeGreaterThan(5 * 60);
    expect(logLines.length).toBeGreaterThan(100);
    for (const event of ['response', 'retry', 'login', 'relogin']) {
      expect(
        logLines.some((l) => l.includes(`"event":"${event}"`)),
        event,
      ).toBe(true);
    }
    // The search below can find what it looks for: a raw exchange body does contain PEM lines.
    expect(secrets.pem.some((p) => p.length >= 40)).toBe(true);
  });

  it('no client secret, code, access token, session cookie, login JWT or PEM text in any error or log line', () => {
    const text = [...errorTexts, ...logLines];
    const found: string[] = [];
    for (const [kind, list] of Object.entries(secrets)) {
      for (const secret of list) {
        if (secret.length < 8) continue;
        const hit = text.find((t) => t.includes(secret));
        if (hit !== undefined) found.push(`${kind} in: ${hit.slice(0, 120)}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('no JWT-looking or PEM-looking text at all in errors and logs', () => {
    const text = [...errorTexts, ...logLines].join('\n');
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain('_npsid=');
  });
});
