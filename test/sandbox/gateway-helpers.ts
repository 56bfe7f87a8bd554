// Helpers for the gateway-wide sandbox tests: raw HTTP requests with exact control over headers and bytes
// (fetch adds its own User-Agent and Content-Type, which NC7 and NC8 must be tested without), hand-signed
// JWTs for the login checks (NC10, E8), the error-shape check (NC37), and a seller credential obtained
// through a real exchange (NC41).

import {
  createHmac,
  createSign,
  constants as cryptoConstants,
  sign as cryptoSign,
  type KeyObject,
  randomUUID,
} from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { expect } from 'vitest';
import type { KeyFile, Sandbox } from '../../src/sandbox/index.js';
import { gw, integratorLogin, UA } from '../helpers/sandbox.js';

export const LOGIN = '/identity/public/v1/api/login';
export const WHOAMI = '/identity/v1/whoami';
export const CATALOG = '/catalog/v1/items';
export const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: any;
  cookies: string[];
}

export interface RawInit {
  method?: string;
  /** Sent exactly as given: nothing is added but Host (and Content-Length when a body is sent). */
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** One request on a fresh connection, sending exactly the headers given. */
export function raw(sb: { url: string }, path: string, init: RawInit = {}): Promise<RawResponse> {
  // The path goes out exactly as given (`//x/...` included), so it is not resolved against the origin.
  const url = new URL(sb.url);
  const body = init.body === undefined ? undefined : Buffer.from(init.body);
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (body !== undefined) headers['content-length'] = String(body.length);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port,
        path,
        method: init.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        agent: false,
        rejectUnauthorized: false,
        timeout: init.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        // A response cut off mid-body (a reset fault) must fail, not pass as a short body.
        res.on('close', () => {
          if (!res.complete) reject(new Error('response incomplete'));
        });
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          const text = buf.toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const sc = res.headers['set-cookie'];
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: buf,
            text,
            json,
            cookies: sc ?? [],
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** NC37: `{code, message, details:[{'@type': ErrorInfo, reason}]}`, with the status and reason expected. */
export function expectErrorShape(
  res: { status: number; json: any; text?: string },
  status: number,
  reason?: string,
): void {
  expect(res.status, res.text).toBe(status);
  const b = res.json;
  expect(b).toBeTypeOf('object');
  expect(Number.isInteger(b.code)).toBe(true);
  expect(b.code).toBeGreaterThan(0);
  expect(b.message).toBeTypeOf('string');
  expect(b.message.length).toBeGreaterThan(0);
  expect(Array.isArray(b.details)).toBe(true);
  expect(b.details.length).toBeGreaterThan(0);
  expect(b.details[0]['@type']).toBe(ERROR_INFO);
  expect(b.details[0].reason).toBeTypeOf('string');
  if (reason !== undefined) expect(b.details[0].reason).toBe(reason);
}

/** The `Cookie` header value for the cookies a login set. */
export function cookieHeader(setCookies: string[]): string {
  return setCookies.map((c) => c.split(';')[0]).join('; ');
}

/** Parses one Set-Cookie line into its name, value and attributes (attribute names lower-cased). */
export function parseSetCookie(line: string): { name: string; value: string; attrs: Map<string, string> } {
  const [pair, ...rest] = line.split(';');
  const eq = pair!.indexOf('=');
  const attrs = new Map<string, string>();
  for (const a of rest) {
    const i = a.indexOf('=');
    const k = (i < 0 ? a : a.slice(0, i)).trim().toLowerCase();
    attrs.set(k, i < 0 ? '' : a.slice(i + 1).trim());
  }
  return { name: pair!.slice(0, eq).trim(), value: pair!.slice(eq + 1).trim(), attrs };
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

/**
 * A compact JWS signed by hand with node:crypto, so the tests can make tokens no JWT library would (alg none,
 * HS256 over an RSA public key, PS256 with the account's key).
 */
export function handJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: KeyObject | string | Buffer | undefined,
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const alg = header.alg;
  let sig: Buffer;
  switch (alg) {
    case 'none':
      sig = Buffer.alloc(0);
      break;
    case 'HS256':
      sig = createHmac('sha256', key as string | Buffer)
        .update(input)
        .digest();
      break;
    case 'RS256':
    case 'RS384':
    case 'RS512':
      sig = createSign(`RSA-SHA${String(alg).slice(2)}`)
        .update(input)
        .sign(key as KeyObject);
      break;
    case 'PS256':
      sig = cryptoSign('sha256', Buffer.from(input), {
        key: key as KeyObject,
        padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });
      break;
    default:
      throw new TypeError(`handJwt: no signer for ${String(alg)}`);
  }
  return `${input}.${sig.toString('base64url')}`;
}

/** Login claims per NC6 for a key at the sandbox's current time. */
export function claimsFor(
  sb: Sandbox,
  key: KeyFile,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const iat = Math.floor(sb.clock.now() / 1000);
  return { sub: key.key_id, iat, exp: iat + 300, jti: randomUUID(), ...extra };
}

/**
 * A seller's own credential, the way an integrator gets one: consent (programmatic), integrator login,
 * token/create, token/exchange. Returns the key file the exchange delivered.
 */
export async function connectSeller(
  sb: Sandbox,
  projectCode: string,
  secrets?: Set<string>,
): Promise<KeyFile> {
  const cookie = await integratorLogin(sb);
  const { code, state } = sb.authorize({ projectCode });
  const created = await gw(sb, '/identity/oauth/v1/token/create', {
    cookie,
    body: {
      grant_type: 'authorization_code',
      code,
      client_id: sb.fixtures.client.clientId,
      client_secret: sb.fixtures.client.clientSecret,
    },
  });
  if (created.status !== 200) throw new Error(`token/create: ${created.status} ${created.text}`);
  const exchanged = await gw(sb, '/identity/oauth/v1/token/exchange', {
    cookie,
    body: { access_token: created.json.access_token },
  });
  if (exchanged.status !== 200 || exchanged.json?.status?.code !== 0)
    throw new Error(`token/exchange: ${exchanged.status} ${exchanged.text}`);
  const key = exchanged.json.result as KeyFile;
  if (secrets) {
    for (const v of [
      code,
      state,
      created.json.access_token,
      key.private_key,
      sb.fixtures.client.clientSecret,
    ])
      secrets.add(v);
    for (const v of cookieValues(cookie)) secrets.add(v);
  }
  return key;
}

/** The values of a `Cookie` header. */
export function cookieValues(cookie: string): string[] {
  return cookie
    .split(';')
    .map((p) => p.slice(p.indexOf('=') + 1).trim())
    .filter((v) => v.length > 0);
}

/** Asserts that no secret (nor any long line of a PEM secret) appears in the text. */
export function expectNoSecrets(text: string, secrets: Iterable<string>): void {
  for (const s of secrets) {
    expect(text.includes(s)).toBe(false);
    for (const line of s.split('\n').filter((l) => l.length > 40)) expect(text.includes(line)).toBe(false);
  }
}

export { UA };
