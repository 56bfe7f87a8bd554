// One connect as a browser makes it, for the benches: start (keeping the binding cookie) → the sandbox's admin
// consent → callback with the cookie, the callback's own duration measured apart; and the loopback-only guard
// and admin POST the connect benches share.

import type { Pool } from 'undici';

/** Benchmarks target loopback only: the origin, or a throw. */
export function loopback(origin: string): string {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(origin).hostname))
    throw new Error('benchmarks target loopback only');
  return origin;
}

/** A POST to the sandbox's admin API that must answer 201; its JSON. */
export async function adminPost(
  sandboxUrl: string,
  path: string,
  body: unknown,
  userAgent: string,
): Promise<any> {
  const r = await fetch(`${loopback(sandboxUrl)}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': userAgent },
    body: JSON.stringify(body),
  });
  if (r.status !== 201) throw new Error(`${path} answered ${r.status}: ${await r.text()}`);
  return r.json();
}

export interface ConnectOutcome {
  /** The callback's status and Location. */
  status: number;
  location: string;
  /** How long the callback request took, in milliseconds. */
  callbackMs: number;
}

export async function connectOnce(o: {
  connector: Pool;
  sandbox: Pool;
  /** The start URL's path and query (a connect link, or `/connect/start?tenant=…`). */
  startPath: string;
  clientId: string;
  projectCode: string;
  redirectUri: string;
  userAgent: string;
}): Promise<ConnectOutcome> {
  const start = await o.connector.request({
    method: 'GET',
    path: o.startPath,
    headers: { 'user-agent': o.userAgent },
  });
  await start.body.dump();
  if (start.statusCode !== 303) throw new Error(`start ${start.statusCode}`);
  const setCookie = start.headers['set-cookie'];
  const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? ''])
    .map((c) => c.split(';')[0])
    .join('; ');
  const state = new URL(String(start.headers.location)).searchParams.get('state')!;
  const consent = await o.sandbox.request({
    method: 'POST',
    path: '/_sandbox/authorize',
    headers: { 'content-type': 'application/json', 'user-agent': o.userAgent },
    body: JSON.stringify({
      client_id: o.clientId,
      state,
      project_code: o.projectCode,
      redirect_uri: o.redirectUri,
    }),
  });
  const { code } = (await consent.body.json()) as { code: string };
  const t0 = performance.now();
  const cb = await o.connector.request({
    method: 'GET',
    path: `/connect/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`,
    headers: { cookie, 'user-agent': o.userAgent },
  });
  await cb.body.dump();
  return {
    status: cb.statusCode,
    location: String(cb.headers.location ?? ''),
    callbackMs: performance.now() - t0,
  };
}
