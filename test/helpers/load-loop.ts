// A bounded load loop for tests: a keep-alive undici Pool on loopback firing prepared GET requests with a fixed
// number in flight, keeping each answer's status, body and latency. It stops when the list is done.

import { Pool } from 'undici';

export interface LoadRequest {
  path: string;
  headers?: Record<string, string>;
}

export interface LoadAnswer {
  /** 0 when the request failed at the transport. */
  status: number;
  body: string;
  ms: number;
}

export interface LoadRun {
  answers: LoadAnswer[];
  errors: number;
  seconds: number;
}

/** The p-th percentile (nearest rank) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Status → count, for assertions and printing. */
export function statusCounts(answers: readonly { status: number }[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
}

/** Fires every request once, `inFlight` at a time; answers come back in request order. */
export async function fireLoad(
  origin: string,
  requests: readonly LoadRequest[],
  inFlight: number,
): Promise<LoadRun> {
  if (new URL(origin).hostname !== '127.0.0.1') throw new Error('load tests target 127.0.0.1 only');
  const pool = new Pool(origin, { connections: inFlight, pipelining: 1, keepAliveTimeout: 10_000 });
  const answers: LoadAnswer[] = new Array(requests.length);
  let next = 0;
  let errors = 0;
  const started = performance.now();
  async function worker(): Promise<void> {
    for (;;) {
      const i = next++;
      if (i >= requests.length) return;
      const r = requests[i]!;
      const t0 = performance.now();
      try {
        const res = await pool.request({ method: 'GET', path: r.path, headers: r.headers ?? {} });
        const body = await res.body.text();
        answers[i] = { status: res.statusCode, body, ms: performance.now() - t0 };
      } catch {
        errors++;
        answers[i] = { status: 0, body: '', ms: performance.now() - t0 };
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(inFlight, requests.length) }, () => worker()));
  } finally {
    await pool.close();
  }
  return { answers, errors, seconds: (performance.now() - started) / 1000 };
}
