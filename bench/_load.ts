// The one load tool every benchmark here uses: a keep-alive undici Pool firing prepared requests with a fixed
// number in flight, counting statuses and recording latencies. Loopback only, bounded by count.

import { Pool } from 'undici';

export interface PreparedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** One answer, in request order; `status` 0 when the request failed at the transport. */
export interface LoadAnswer {
  status: number;
  ms: number;
  /** Kept only with `keepBodies`. */
  body: string;
}

export interface LoadResult {
  answers: LoadAnswer[];
  sent: number;
  ok: number;
  statuses: Record<number, number>;
  errors: number;
  seconds: number;
  perSecondOk: number;
  latenciesMs: number[];
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export async function runLoad(
  origin: string,
  requests: readonly PreparedRequest[],
  inFlight: number,
  o: { keepBodies?: boolean } = {},
): Promise<LoadResult> {
  const u = new URL(origin);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))
    throw new Error('benchmarks target loopback only');
  const pool = new Pool(origin, { connections: inFlight, pipelining: 1, keepAliveTimeout: 30_000 });
  const statuses: Record<number, number> = {};
  const latenciesMs: number[] = [];
  const answers: LoadAnswer[] = new Array(requests.length);
  let next = 0;
  let ok = 0;
  let errors = 0;
  const started = performance.now();
  async function worker(): Promise<void> {
    for (;;) {
      const i = next++;
      if (i >= requests.length) return;
      const r = requests[i]!;
      const t0 = performance.now();
      try {
        const res = await pool.request({
          method: r.method,
          path: r.path,
          headers: r.headers,
          body: r.body ?? null,
        });
        let body = '';
        if (o.keepBodies) body = await res.body.text();
        else await res.body.dump();
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 200) ok++;
        answers[i] = { status: res.statusCode, ms: performance.now() - t0, body };
      } catch {
        errors++;
        answers[i] = { status: 0, ms: performance.now() - t0, body: '' };
      }
      latenciesMs.push(answers[i]!.ms);
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(inFlight, requests.length) }, () => worker()));
  } finally {
    await pool.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    answers,
    sent: requests.length,
    ok,
    statuses,
    errors,
    seconds,
    perSecondOk: ok / seconds,
    latenciesMs,
  };
}

export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}
