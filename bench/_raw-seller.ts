// The raw baseline of the seller-call rows (bench/_connect-child.ts, bench/_proxy-path.ts): an undici Pool that
// logs in to the sandbox with the integrator's key itself and calls the same endpoint, with nothing between.

import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { createLoginJwt, type KeyFile, parseCredentials } from '../src/client/index.js';

/** The endpoint the seller-call rows call. */
export const CATALOG = '/catalog/v1/items';
const UA = 'noon-connect-bench/1.0';

export interface RawSeller {
  pool: Pool;
  cookie: string;
}

/** Logs in with `key` (again, on the same pool when `reuse` is given); the pool and the session's cookies. */
export async function rawLogin(
  a: { sandboxUrl: string; key: KeyFile },
  reuse?: RawSeller,
): Promise<RawSeller> {
  const credentials = parseCredentials(a.key);
  const pool = reuse?.pool ?? new Pool(a.sandboxUrl, { connections: 16, keepAliveTimeout: 30_000 });
  const r = await pool.request({
    method: 'POST',
    path: '/identity/public/v1/api/login',
    headers: { 'content-type': 'application/json', 'user-agent': UA },
    body: JSON.stringify({
      token: createLoginJwt(credentials, Date.now(), () => randomUUID()),
      default_project_code: credentials.projectCode,
    }),
  });
  await r.body.dump();
  if (r.statusCode !== 200) throw new Error(`raw login answered ${r.statusCode}`);
  const sc = r.headers['set-cookie'];
  const cookie = (Array.isArray(sc) ? sc : [sc ?? '']).map((c) => c.split(';')[0]).join('; ');
  return { pool, cookie };
}

/** One GET of the catalog with the raw session's cookies, its JSON parsed. */
export async function rawCall(raw: RawSeller): Promise<void> {
  const r = await raw.pool.request({
    method: 'GET',
    path: CATALOG,
    headers: { 'user-agent': UA, accept: 'application/json', cookie: raw.cookie },
  });
  const text = await r.body.text();
  if (r.statusCode !== 200) throw new Error(`raw catalog answered ${r.statusCode}`);
  JSON.parse(text);
}
