// Test helpers: a sandbox per test file on a free loopback port (keys from a shared cache so runs start warm,
// or a pool that starts full of reserved keys), gateway requests with a User-Agent, and login JWTs signed with
// jose.

import { createPrivateKey, randomUUID } from 'node:crypto';
import { importPKCS8, importSPKI, SignJWT } from 'jose';
import { createSandbox, type KeyFile, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';
import { KEY_CACHE_DIR, reserveKeys } from './key-reserve.js';

export { KEY_CACHE_DIR };
export const UA = 'noon-connect-tests/1.0';

/** Keys the sandbox takes from its pool while it starts: its token-signing key and the integrator's key. */
const KEYS_TAKEN_AT_START = 2;

export interface TestSandboxOptions extends SandboxOptions {
  /**
   * Keys that must be ready in the pool once the sandbox has started, without waiting on the pool's worker: they
   * are reserved before it starts (see key-reserve.ts), and the unused ones go back to the shared cache when it
   * closes. Sets `poolSize`.
   */
  readyKeys?: number;
}

export async function startSandbox(options: TestSandboxOptions = {}): Promise<Sandbox> {
  const { readyKeys, ...rest } = options;
  if (readyKeys === undefined) return createSandbox({ poolSize: 4, keyCacheDir: KEY_CACHE_DIR, ...rest });
  const size = readyKeys + KEYS_TAKEN_AT_START;
  const reserved = await reserveKeys(size);
  let sb: Sandbox;
  try {
    sb = await createSandbox({ ...rest, poolSize: size, keyCacheDir: reserved.dir });
  } catch (e) {
    reserved.release();
    throw e;
  }
  const ready = sb.pool.stats().ready;
  if (ready < readyKeys) {
    await sb.close();
    reserved.release();
    throw new Error(`the sandbox started with ${ready} keys ready, not the ${readyKeys} reserved`);
  }
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= sb.close().finally(() => reserved.release());
    return closed;
  };
  // The sandbox as created, except that closing it also hands the unused reserved keys back.
  return new Proxy(sb, {
    get: (target, prop) => (prop === 'close' ? close : Reflect.get(target, prop, target)),
  });
}

export interface GatewayResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  cookies: string[];
}

/** One request to the sandbox gateway; `cookie` is sent as given; a User-Agent is sent unless `ua: null`. */
export async function gw(
  sb: { url: string },
  path: string,
  init: {
    method?: string;
    body?: unknown;
    cookie?: string;
    ua?: string | null;
    headers?: Record<string, string>;
    raw?: string | Uint8Array;
  } = {},
): Promise<GatewayResponse> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  // fetch adds its own User-Agent when none is set; an empty one is what "no User-Agent" looks like here.
  headers['user-agent'] = init.ua === null ? '' : (init.ua ?? UA);
  if (init.cookie) headers.cookie = init.cookie;
  let body: string | Uint8Array | undefined;
  if (init.raw !== undefined) body = init.raw;
  else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(sb.url + path, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body !== undefined ? { body: body as BodyInit } : {}),
    redirect: 'manual',
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json, cookies: res.headers.getSetCookie() };
}

/** A login JWT per NC6, signed with jose; `claims`/`header` override or (with undefined) drop fields. */
export async function loginJwt(
  key: KeyFile,
  o: { claims?: Record<string, unknown>; header?: Record<string, unknown>; nowS?: number } = {},
): Promise<string> {
  const pkcs8 = createPrivateKey(key.private_key).export({ type: 'pkcs8', format: 'pem' }).toString();
  const pk = await importPKCS8(pkcs8, 'RS256');
  const iat = o.nowS ?? Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    sub: key.key_id,
    iat,
    jti: randomUUID(),
    exp: iat + 300,
    ...o.claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  const header: Record<string, unknown> = { alg: 'RS256', kid: key.key_id, ...o.header };
  for (const k of Object.keys(header)) if (header[k] === undefined) delete header[k];
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(pk);
}

/** Logs in with a key file; returns the Cookie header value for later requests. */
export async function login(sb: Sandbox, key: KeyFile, projectCode = key.project_code): Promise<string> {
  const token = await loginJwt(key, { nowS: Math.floor(sb.clock.now() / 1000) });
  const res = await gw(sb, '/identity/public/v1/api/login', {
    body: { token, default_project_code: projectCode },
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
  return res.cookies.map((c) => c.split(';')[0]).join('; ');
}

/** The integrator's session cookie for the sandbox's first integrator. */
export function integratorLogin(sb: Sandbox): Promise<string> {
  return login(sb, sb.fixtures.integrator.key!);
}

export async function spkiFromKeyFile(key: KeyFile) {
  const { createPublicKey } = await import('node:crypto');
  return importSPKI(
    createPublicKey(key.private_key).export({ type: 'spki', format: 'pem' }).toString(),
    'RS256',
  );
}
