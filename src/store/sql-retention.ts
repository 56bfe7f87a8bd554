// The SQL of retention (resolving held answers, purging old rows, counting), for SqlStore (sql-store.ts
// delegates here).

import type { SqlDriver } from './sql-driver.js';
import { num } from './sql-rows.js';
import {
  type AttemptResolution,
  type PurgeResult,
  type RetentionCounts,
  TERMINAL_STATUSES,
} from './types.js';

/**
 * An ended attempt retention may delete: last updated before the cut-off and holding no sealed value. An
 * unresolved NEEDS_ATTENTION attempt holds its raw answer (perhaps the only copy of a live key) and stays.
 * Parameters: the terminal statuses, then the cut-off.
 */
const PURGEABLE_ATTEMPT = `status IN (${TERMINAL_STATUSES.map(() => '?').join(', ')}) AND updated_at < ?
  AND raw_exchange_sealed IS NULL AND access_token_sealed IS NULL
  AND (status <> 'NEEDS_ATTENTION' OR resolved_at IS NOT NULL)`;
/** A delivery that reached its endpoint before the cut-off; pending ones are the webhook worker's. */
const PURGEABLE_DELIVERY = 'delivered_at IS NOT NULL AND delivered_at < ?';
/** An event older than the cut-off that no delivery row (pending, or not yet purged) still needs. */
const PURGEABLE_EVENT =
  'created_at < ? AND NOT EXISTS (SELECT 1 FROM nc_deliveries d WHERE d.event_id = nc_events.id)';

// --- retention ------------------------------------------------------------------------------------

export async function resolveAttempt(
  db: SqlDriver,
  id: string,
  resolution: AttemptResolution,
  now: number,
): Promise<boolean> {
  // Durable: the answer may have been the only copy of a key; once the decision is recorded it is gone.
  return db.transaction(
    async (tx) =>
      (await tx.run(
        `UPDATE nc_attempts SET resolved_at = ?, resolution = ?, raw_exchange_sealed = NULL, updated_at = ?
         WHERE id = ? AND status = 'NEEDS_ATTENTION' AND resolved_at IS NULL`,
        [now, resolution, now, id],
      )) === 1,
    { durable: true },
  );
}

export async function purge(
  db: SqlDriver,
  q: { before: number; now: number; limit: number },
): Promise<PurgeResult> {
  const limit = Math.max(1, Math.floor(q.limit));
  // Each statement is its own short transaction on at most `limit` rows, so callbacks wait for one batch at
  // most, never for the whole purge. No ORDER BY: any rows past the cut-off will do, and an index scan can stop
  // at the limit instead of sorting every candidate for each batch.
  const attempts = await db.run(
    `DELETE FROM nc_attempts WHERE id IN (
       SELECT id FROM nc_attempts WHERE ${PURGEABLE_ATTEMPT} LIMIT ?)`,
    [...TERMINAL_STATUSES, q.before, limit],
  );
  const deliveries = await db.run(
    `DELETE FROM nc_deliveries WHERE (event_id, endpoint) IN (
       SELECT event_id, endpoint FROM nc_deliveries WHERE ${PURGEABLE_DELIVERY} LIMIT ?)`,
    [q.before, limit],
  );
  const events = await db.run(
    `DELETE FROM nc_events WHERE id IN (
       SELECT id FROM nc_events WHERE ${PURGEABLE_EVENT} LIMIT ?)`,
    [q.before, limit],
  );
  const counters = await db.run(
    `DELETE FROM nc_counters WHERE (name, window_start) IN (
       SELECT name, window_start FROM nc_counters WHERE expires_at <= ? LIMIT ?)`,
    [q.now, limit],
  );
  return { attempts, events, deliveries, counters };
}

export async function retentionCounts(db: SqlDriver, before: number): Promise<RetentionCounts> {
  const count = async (sql: string, params: unknown[] = []) =>
    num((await db.all<{ n: unknown }>(sql, params))[0]?.n ?? 0);
  return {
    attempts: await count('SELECT COUNT(*) AS n FROM nc_attempts'),
    events: await count('SELECT COUNT(*) AS n FROM nc_events'),
    deliveries: await count('SELECT COUNT(*) AS n FROM nc_deliveries'),
    heldAnswers: await count('SELECT COUNT(*) AS n FROM nc_attempts WHERE raw_exchange_sealed IS NOT NULL'),
    purgeable: {
      attempts: await count(`SELECT COUNT(*) AS n FROM nc_attempts WHERE ${PURGEABLE_ATTEMPT}`, [
        ...TERMINAL_STATUSES,
        before,
      ]),
      events: await count(`SELECT COUNT(*) AS n FROM nc_events WHERE ${PURGEABLE_EVENT}`, [before]),
      deliveries: await count(`SELECT COUNT(*) AS n FROM nc_deliveries WHERE ${PURGEABLE_DELIVERY}`, [
        before,
      ]),
    },
  };
}
