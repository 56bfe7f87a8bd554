// A bounded load loop for tests: the benchmarks' load tool (bench/_load.ts, a keep-alive undici Pool on
// loopback, a fixed number in flight) firing prepared GET requests and keeping each answer's status, body and
// latency, in request order. It stops when the list is done.

import { type LoadAnswer as BenchAnswer, percentile, runLoad } from '../../bench/_load.js';

export { percentile };

export interface LoadRequest {
  path: string;
  headers?: Record<string, string>;
}

export type LoadAnswer = BenchAnswer;

export interface LoadRun {
  answers: LoadAnswer[];
  errors: number;
  seconds: number;
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
  const r = await runLoad(
    origin,
    requests.map((q) => ({ method: 'GET' as const, path: q.path, headers: q.headers ?? {} })),
    inFlight,
    { keepBodies: true },
  );
  return { answers: r.answers, errors: r.errors, seconds: r.seconds };
}
