// A reference integrator application for `noon-connect check`, written the way an integrator would write it from
// Noon's quickstart, without this package: plain node:http and fetch. APP_DEFECT turns on one deliberate mistake,
// so the tests can show the checker catches each and nothing else:
//   state-reuse         checks the state belongs to the browser but never uses it up (it does remember codes)
//   code-replay         treats the same callback again as a retry and sends its code to token/create once more
//   claims-success      reads token/exchange's HTTP status only, never status.code
//   secret-in-redirect  puts the client secret on the consent URL
//   no-session          calls token/create and token/exchange without the integrator session, as the samples do
//   no-user-agent       sends no User-Agent to Noon
// Configuration: NOON_AUTHORIZE_URL, NOON_GATEWAY_URL, NOON_CLIENT_ID, NOON_CLIENT_SECRET, NOON_KEY_FILE, PORT,
// APP_TIMEOUT_MS (how long to wait for Noon, default 5000).

import { createPrivateKey, createSign, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const DEFECTS = [
  'none',
  'state-reuse',
  'code-replay',
  'claims-success',
  'secret-in-redirect',
  'no-session',
  'no-user-agent',
] as const;
type Defect = (typeof DEFECTS)[number];

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

const AUTHORIZE_URL = required('NOON_AUTHORIZE_URL');
const GATEWAY = required('NOON_GATEWAY_URL').replace(/\/+$/, '');
const CLIENT_ID = required('NOON_CLIENT_ID');
const CLIENT_SECRET = required('NOON_CLIENT_SECRET');
const PORT = Number(process.env.PORT ?? 8000);
const TIMEOUT_MS = Number(process.env.APP_TIMEOUT_MS ?? 5000);
const DEFECT = (process.env.APP_DEFECT ?? 'none') as Defect;
if (!DEFECTS.includes(DEFECT)) throw new Error(`unknown APP_DEFECT ${DEFECT}`);
// fetch adds its own User-Agent when none is set; an empty one is what "none" looks like on the wire.
const USER_AGENT = DEFECT === 'no-user-agent' ? '' : 'acme-connect-reference/1.0';
const STATE_TTL_MS = 10 * 60_000;

interface KeyFile {
  key_id: string;
  private_key: string;
  project_code: string;
}

const integratorKey = JSON.parse(readFileSync(required('NOON_KEY_FILE'), 'utf8')) as KeyFile;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

// --- Noon ----------------------------------------------------------------------------------------------------

/** The login JWT (RS256, sub = key_id, iat, exp, jti). */
function loginJwt(key: KeyFile): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const input = `${part({ alg: 'RS256', typ: 'JWT', kid: key.key_id })}.${part({ sub: key.key_id, iat, exp: iat + 300, jti: randomUUID() })}`;
  const signature = createSign('RSA-SHA256').update(input).sign(createPrivateKey(key.private_key));
  return `${input}.${signature.toString('base64url')}`;
}

interface Reply {
  status: number;
  json: Record<string, unknown> | undefined;
  cookies: string;
}

async function noon(method: 'GET' | 'POST', path: string, body?: unknown, cookie?: string): Promise<Reply> {
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (cookie) headers.cookie = cookie;
  const res = await fetch(GATEWAY + path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    const v: unknown = JSON.parse(text);
    json = v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {}
  const cookies = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  return { status: res.status, json, cookies };
}

async function login(key: KeyFile): Promise<string> {
  const r = await noon('POST', '/identity/public/v1/api/login', {
    token: loginJwt(key),
    default_project_code: key.project_code,
  });
  if (r.status !== 200) throw new Error(`login answered ${r.status}`);
  return r.cookies;
}

let integratorSession: string | undefined;

/** A call with the integrator's session: logged in on first use and once more when Noon says it ended. */
async function asIntegrator(path: string, body: unknown): Promise<Reply> {
  if (DEFECT === 'no-session') return noon('POST', path, body);
  integratorSession ??= await login(integratorKey);
  const r = await noon('POST', path, body, integratorSession);
  if (r.status !== 401) return r;
  integratorSession = await login(integratorKey);
  return noon('POST', path, body, integratorSession);
}

// --- the connect flow ------------------------------------------------------------------------------------------

interface Pending {
  binding: string;
  createdAt: number;
  used: boolean;
  code?: string;
}

const pending = new Map<string, Pending>();
const redeemedCodes = new Set<string>();
/** Credentials by seller project; in memory only, never written anywhere. */
const credentials = new Map<string, KeyFile>();

function cookiesOf(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: ServerResponse, status: number, title: string, line: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>${esc(title)}</title><h1>${esc(title)}</h1><p>${esc(line)}</p>`);
}

function start(req: IncomingMessage, res: ServerResponse): void {
  const state = randomBytes(32).toString('base64url');
  const binding = cookiesOf(req).get('acme_bind') ?? randomBytes(32).toString('base64url');
  pending.set(state, { binding, createdAt: Date.now(), used: false });
  const consent = new URL(AUTHORIZE_URL);
  consent.searchParams.set('client_id', CLIENT_ID);
  consent.searchParams.set('state', state);
  if (DEFECT === 'secret-in-redirect') consent.searchParams.set('client_secret', CLIENT_SECRET);
  res.writeHead(303, {
    location: consent.toString(),
    'set-cookie': `acme_bind=${binding}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600`,
    'cache-control': 'no-store',
  });
  res.end();
}

async function callback(url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const state = url.searchParams.get('state') ?? '';
  const code = url.searchParams.get('code');
  const rec = pending.get(state);
  const binding = cookiesOf(req).get('acme_bind');
  if (!rec || !binding || !sameSecret(rec.binding, binding) || Date.now() - rec.createdAt > STATE_TTL_MS) {
    page(res, 400, 'Not connected', 'This connect link was not issued to this browser. Start again.');
    return;
  }
  const retry = DEFECT === 'code-replay' && rec.used && code !== null && code === rec.code;
  if (rec.used && DEFECT !== 'state-reuse' && !retry) {
    page(res, 400, 'Not connected', 'This connect link was already used. Start again.');
    return;
  }
  if (DEFECT !== 'state-reuse') rec.used = true;
  if (url.searchParams.get('error') !== null) {
    page(res, 200, 'Not connected', 'You chose not to give access on noon, so nothing was connected.');
    return;
  }
  if (!code) {
    page(res, 400, 'Not connected', 'noon sent no code. Start again.');
    return;
  }
  rec.code = code;
  if (DEFECT === 'state-reuse') {
    if (redeemedCodes.has(code)) {
      page(res, 400, 'Not connected', 'This code was already used. Start again.');
      return;
    }
    redeemedCodes.add(code);
  }
  const created = await asIntegrator('/identity/oauth/v1/token/create', {
    grant_type: 'authorization_code',
    code,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  const accessToken = created.json?.access_token;
  if (created.status !== 200 || typeof accessToken !== 'string') {
    page(res, 502, 'Not connected', `noon answered ${created.status} to token/create. Start again.`);
    return;
  }
  const exchanged = await asIntegrator('/identity/oauth/v1/token/exchange', { access_token: accessToken });
  if (exchanged.status !== 200) {
    page(res, 502, 'Not connected', `noon answered ${exchanged.status} to token/exchange. Start again.`);
    return;
  }
  const status = exchanged.json?.status as { code?: unknown } | undefined;
  const result = exchanged.json?.result as KeyFile | undefined;
  if (DEFECT !== 'claims-success' && (status?.code !== 0 || typeof result?.private_key !== 'string')) {
    page(res, 502, 'Not connected', `noon could not create the credential (status ${String(status?.code)}).`);
    return;
  }
  if (result && typeof result.private_key === 'string') {
    credentials.set(result.project_code, result);
    // The key works: log in with it and ask who we are.
    const session = await login(result);
    const me = await noon('GET', '/identity/v1/whoami', undefined, session);
    if (me.status !== 200) {
      page(res, 502, 'Not connected', 'The new credential did not work. Start again.');
      return;
    }
  }
  const project = typeof exchanged.json?.project_code === 'string' ? exchanged.json.project_code : '';
  res.writeHead(303, {
    location: `/connect/done?project=${encodeURIComponent(project)}`,
    'cache-control': 'no-store',
  });
  res.end();
}

function done(url: URL, res: ServerResponse): void {
  const project = url.searchParams.get('project') ?? '';
  page(res, 200, 'Connected', `Your noon project ${project} is connected.`);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  res.on('finish', () => log(`${req.method} ${url.pathname} ${res.statusCode}`));
  const route = async () => {
    if (req.method !== 'GET') return page(res, 405, 'Not allowed', 'Use GET.');
    if (url.pathname === '/connect/start') return start(req, res);
    if (url.pathname === '/connect/callback') return callback(url, req, res);
    if (url.pathname === '/connect/done') return done(url, res);
    return page(res, 404, 'Not found', 'No such page.');
  };
  route().catch((e: unknown) => {
    // Noon timed out, reset or answered something unreadable: say so, with no detail that could hold a secret.
    log(`callback failed: ${e instanceof Error ? e.name : 'error'}`);
    if (!res.headersSent)
      page(res, 502, 'Not connected', 'noon could not be reached. Start again in a moment.');
    else res.end();
  });
});

server.listen(PORT, '127.0.0.1', () => log(`listening on http://127.0.0.1:${PORT} (defect: ${DEFECT})`));
