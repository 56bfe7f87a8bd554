// What retention keeps and has removed, as the dashboard and `noon-connect doctor` show it: rows kept, rows past
// the configured age (purged by the reconciler's next pass), sealed answers held for an operator, and the totals
// removed so far (counted in the store, so every instance reports the same).

import { PURGED_TOTALS } from '../connect/reconciler.js';
import type { RetentionCounts, Store } from '../store/index.js';

export interface RetentionReport extends RetentionCounts {
  /** The configured age, in days. */
  days: number;
  /** Removed so far by retention, on every instance. */
  purged: { attempts: number; events: number; deliveries: number; answers: number };
}

/** The retention figures of a store for a configured age (milliseconds), as of `now`. */
export async function retentionReport(
  store: Store,
  retentionMs: number,
  now: number,
): Promise<RetentionReport> {
  const counts = await store.retentionCounts(now - retentionMs);
  return {
    ...counts,
    days: Math.round(retentionMs / 86_400_000),
    purged: {
      attempts: await store.readCounter(PURGED_TOTALS.attempts, 0),
      events: await store.readCounter(PURGED_TOTALS.events, 0),
      deliveries: await store.readCounter(PURGED_TOTALS.deliveries, 0),
      answers: await store.readCounter(PURGED_TOTALS.answers, 0),
    },
  };
}

/** The report as lines of text (doctor's output). */
export function retentionLines(r: RetentionReport): string[] {
  return [
    `retention: ${r.days} days; kept ${r.attempts} attempts, ${r.events} events, ${r.deliveries} deliveries`,
    `  past the age, purged on the next pass: ${r.purgeable.attempts} attempts, ${r.purgeable.events} events, ${r.purgeable.deliveries} deliveries`,
    `  sealed key answers held for an operator: ${r.heldAnswers}`,
    `  removed so far: ${r.purged.attempts} attempts, ${r.purged.events} events, ${r.purged.deliveries} deliveries, ${r.purged.answers} kept answers`,
  ];
}
