// `npm run bench -- sandbox`: the sandbox's figures beside their baselines, measured in one run:
// - token/create req/s vs oauth2-mock-server 8's token endpoint (authorization_code grant), same load tool,
//   same in-flight count, each request with a fresh code minted beforehand, counting only 200s;
// - login p99 idle vs while the key pool refills (goal: ≤ 3× idle);
// - exchanges/s from a warm pool.

import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { join } from 'node:path';
import { startChild } from './_child.js';
import { fmt, type PreparedRequest, percentile, runLoad } from './_load.js';
import { record } from './_report.js';

const UA = 'noon-connect-bench/1.0';
const CODES = Number(process.env.BENCH_CODES ?? 6000);
const IN_FLIGHT = 32;
const LOGINS = 600;
const EXCHANGES = 150;
const KEY_CACHE = join(process.cwd(), 'node_modules', '.cache', 'noon-connect', 'bench-keys');

function loginJwt(
  key: { key_id: string; private_key: string },
  pk: ReturnType<typeof createPrivateKey>,
): string {
  const iat = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: key.key_id })}.${b64({ sub: key.key_id, iat, exp: iat + 300, jti: randomUUID() })}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), pk).toString('base64url')}`;
}

async function postJson(url: string, body: unknown, cookie?: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': UA, ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, cookies: res.headers.getSetCookie(), json: (await res.json()) as any };
}

export async function run(): Promise<void> {
  // --- our sandbox ------------------------------------------------------------------------------
  const ours = await startChild('./_sandbox-child.ts', ['sandbox']);
  const peerChild = await startChild('./_sandbox-child.ts', ['peer']);
  try {
    const info = await ours.call('start-sandbox', {
      poolSize: EXCHANGES + 20,
      keyCacheDir: KEY_CACHE,
      sellers: EXCHANGES,
    });
    const pk = createPrivateKey(info.key.private_key);
    const loginReq = () => ({
      method: 'POST' as const,
      path: '/identity/public/v1/api/login',
      headers: { 'content-type': 'application/json', 'user-agent': UA },
      body: JSON.stringify({ token: loginJwt(info.key, pk), default_project_code: info.key.project_code }),
    });
    const login = await postJson(`${info.url}/identity/public/v1/api/login`, JSON.parse(loginReq().body));
    const cookie = login.cookies.map((c: string) => c.split(';')[0]).join('; ');

    // token/create: ours
    const codes: string[] = await ours.call('mint', { count: CODES });
    const ourReqs: PreparedRequest[] = codes.map((code) => ({
      method: 'POST',
      path: '/identity/oauth/v1/token/create',
      headers: { 'content-type': 'application/json', 'user-agent': UA, cookie },
      body: JSON.stringify({
        grant_type: 'authorization_code',
        code,
        client_id: info.client.clientId,
        client_secret: info.client.clientSecret,
      }),
    }));
    // token/create: peer, codes minted through its /authorize endpoint beforehand
    const peer = await peerChild.call('start-peer');
    const peerOrigin = new URL(peer.url).origin;
    const redirect = 'http://127.0.0.1:9/cb';
    const peerCodes: string[] = [];
    for (let i = 0; i < CODES; i++) {
      const r = await fetch(
        `${peerOrigin}/authorize?response_type=code&client_id=bench&state=s${i}&redirect_uri=${encodeURIComponent(redirect)}`,
        { redirect: 'manual' },
      );
      const code = new URL(r.headers.get('location')!).searchParams.get('code');
      if (!code) throw new Error('peer did not mint a code');
      peerCodes.push(code);
    }
    const peerReqs: PreparedRequest[] = peerCodes.map((code) => ({
      method: 'POST',
      path: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': UA },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirect,
        client_id: 'bench',
      }).toString(),
    }));
    // Warm both up briefly, then measure each once, alternating order is not needed: separate processes.
    const ourRun = await runLoad(info.url, ourReqs, IN_FLIGHT);
    const peerRun = await runLoad(peerOrigin, peerReqs, IN_FLIGHT);
    const counts = await ours.call('counts');
    const ratio = ourRun.perSecondOk / peerRun.perSecondOk;
    console.log(`token/create (${CODES} fresh codes, ${IN_FLIGHT} in flight, 200s only)`);
    console.log(
      `  noon-connect sandbox        ${fmt(ourRun.perSecondOk)} req/s  (200: ${ourRun.ok}, other: ${JSON.stringify(ourRun.statuses)}, errors ${ourRun.errors}, p99 ${fmt(percentile(ourRun.latenciesMs, 99), 1)} ms)`,
    );
    console.log(
      `  oauth2-mock-server 8 /token ${fmt(peerRun.perSecondOk)} req/s  (200: ${peerRun.ok}, errors ${peerRun.errors}, p99 ${fmt(percentile(peerRun.latenciesMs, 99), 1)} ms)`,
    );
    console.log(`  ratio ${fmt(ratio, 2)}x (goal >= 1.2x) ${ratio >= 1.2 ? 'MET' : 'NOT MET'}`);
    console.log(
      `  sandbox ledger of access tokens issued: ${counts.tokens} (200 responses seen: ${ourRun.ok}) ${counts.tokens === ourRun.ok ? 'EQUAL' : 'DIFFERENT'}`,
    );
    record({
      bench: 'sandbox',
      measure: 'token/create req/s',
      value: ourRun.perSecondOk,
      unit: 'req/s',
      baseline: { label: 'oauth2-mock-server 8 /token', value: peerRun.perSecondOk },
      ratio,
      goal: '≥ 1.2×',
      note: `${CODES} fresh codes, ${IN_FLIGHT} in flight; tokens in the ledger ${counts.tokens === ourRun.ok ? 'equal' : 'DIFFER from'} the 200s`,
    });

    // login p99: idle (pool full) vs while the pool refills
    const idle = await runLoad(info.url, Array.from({ length: LOGINS }, loginReq), 4);
    const drained = await ours.call('drain-pool');
    const during = await runLoad(info.url, Array.from({ length: LOGINS }, loginReq), 4);
    const poolAfter = await ours.call('pool');
    const p99Idle = percentile(idle.latenciesMs, 99);
    const p99Refill = percentile(during.latenciesMs, 99);
    console.log(`login latency (${LOGINS} logins, 4 in flight)`);
    console.log(
      `  idle (pool full)      p50 ${fmt(percentile(idle.latenciesMs, 50), 2)} ms  p99 ${fmt(p99Idle, 2)} ms  (200: ${idle.ok})`,
    );
    console.log(
      `  while pool refills    p50 ${fmt(percentile(during.latenciesMs, 50), 2)} ms  p99 ${fmt(p99Refill, 2)} ms  (200: ${during.ok}; pool ${drained.ready} -> ${poolAfter.ready} of ${poolAfter.size}, refilling: ${poolAfter.refilling})`,
    );
    console.log(
      `  ratio ${fmt(p99Refill / p99Idle, 2)}x (goal <= 3x) ${p99Refill / p99Idle <= 3 ? 'MET' : 'NOT MET'}`,
    );
    record({
      bench: 'sandbox',
      measure: 'login p99 while the key pool refills',
      value: p99Refill,
      unit: 'ms',
      baseline: { label: 'login p99 with the pool full', value: p99Idle },
      ratio: p99Refill / p99Idle,
      goal: '≤ 3× (lower is better)',
      note: `${LOGINS} logins, 4 in flight`,
    });
  } finally {
    await ours.close();
    await peerChild.close();
  }

  // exchanges/s from a warm pool (a fresh sandbox so the pool is full)
  const ex = await startChild('./_sandbox-child.ts', ['sandbox']);
  try {
    const info = await ex.call('start-sandbox', {
      poolSize: EXCHANGES + 10,
      keyCacheDir: KEY_CACHE,
      sellers: EXCHANGES,
    });
    const pk = createPrivateKey(info.key.private_key);
    const login = await postJson(`${info.url}/identity/public/v1/api/login`, {
      token: loginJwt(info.key, pk),
      default_project_code: info.key.project_code,
    });
    const cookie = login.cookies.map((c: string) => c.split(';')[0]).join('; ');
    const codes: string[] = await ex.call('mint', { count: EXCHANGES, projects: EXCHANGES });
    const tokens: string[] = [];
    for (const code of codes) {
      const r = await postJson(
        `${info.url}/identity/oauth/v1/token/create`,
        {
          grant_type: 'authorization_code',
          code,
          client_id: info.client.clientId,
          client_secret: info.client.clientSecret,
        },
        cookie,
      );
      tokens.push(r.json.access_token);
    }
    const before = await ex.call('pool');
    const exRun = await runLoad(
      info.url,
      tokens.map((t) => ({
        method: 'POST' as const,
        path: '/identity/oauth/v1/token/exchange',
        headers: { 'content-type': 'application/json', 'user-agent': UA, cookie },
        body: JSON.stringify({ access_token: t }),
      })),
      8,
    );
    const counts = await ex.call('counts');
    console.log(
      `token/exchange from a warm pool (${EXCHANGES} exchanges, 8 in flight; pool ready before: ${before.ready})`,
    );
    console.log(
      `  ${fmt(exRun.perSecondOk)} exchanges/s, p99 ${fmt(percentile(exRun.latenciesMs, 99), 1)} ms (200: ${exRun.ok}; credentials in ledger: ${counts.credentials})`,
    );
    record({
      bench: 'sandbox',
      measure: 'token/exchange from a warm key pool',
      value: exRun.perSecondOk,
      unit: 'exchanges/s',
      note: `${EXCHANGES} exchanges, 8 in flight, p99 ${fmt(percentile(exRun.latenciesMs, 99), 1)} ms; no baseline (no peer issues keys)`,
    });
  } finally {
    await ex.close();
  }
}
