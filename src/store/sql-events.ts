// The SQL of events, webhook deliveries and shared counters, for SqlStore (sql-store.ts delegates here).

import type { SqlDriver, SqlExecutor } from './sql-driver.js';
import { deliveryFrom, eventFrom, num, placeholders, type Row, Where } from './sql-rows.js';
import type { Delivery, EventRecord, NewEvent } from './types.js';

/** Inserts events and one pending delivery per endpoint, inside the caller's transaction. */
export async function insertEvents(tx: SqlExecutor, events: readonly NewEvent[] | undefined): Promise<void> {
  for (const e of events ?? []) {
    await tx.run(
      'INSERT INTO nc_events (id, type, tenant, connection_id, attempt_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [e.id, e.type, e.tenant, e.connectionId, e.attemptId, e.payload, e.createdAt],
    );
    for (const endpoint of e.endpoints) {
      await tx.run('INSERT INTO nc_deliveries (event_id, endpoint, attempts, next_at) VALUES (?, ?, 0, ?)', [
        e.id,
        endpoint,
        e.createdAt,
      ]);
    }
  }
}

// --- events and deliveries ------------------------------------------------------------------------

export async function appendEvents(db: SqlDriver, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.transaction((tx) => insertEvents(tx, events));
}

export async function listEvents(
  db: SqlDriver,
  q: { limit?: number; tenant?: string; connectionId?: string } = {},
): Promise<EventRecord[]> {
  const w = new Where().eq('tenant', q.tenant).eq('connection_id', q.connectionId);
  const rows = await db.all<Row>(`SELECT * FROM nc_events ${w} ORDER BY created_at DESC, id LIMIT ?`, [
    ...w.params,
    q.limit ?? 200,
  ]);
  return rows.map(eventFrom);
}

export async function leaseDueDeliveries(
  db: SqlDriver,
  now: number,
  leaseMs: number,
  limit: number,
): Promise<(Delivery & { event: EventRecord })[]> {
  // The outer WHERE repeats the due/lease test so a concurrent leaser that lost the race updates nothing.
  const rows = await db.all<Row>(
    `UPDATE nc_deliveries SET lease_until = ?
     WHERE delivered_at IS NULL AND next_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
       AND (event_id, endpoint) IN (
         SELECT event_id, endpoint FROM nc_deliveries
         WHERE delivered_at IS NULL AND next_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
         ORDER BY next_at LIMIT ?)
     RETURNING *`,
    [now + leaseMs, now, now, now, now, limit],
  );
  if (rows.length === 0) return [];
  const ids = [...new Set(rows.map((r) => String(r.event_id)))];
  const events = await db.all<Row>(`SELECT * FROM nc_events WHERE id IN (${placeholders(ids.length)})`, ids);
  const byId = new Map(events.map((e) => [String(e.id), eventFrom(e)]));
  return rows
    .map((r) => ({ ...deliveryFrom(r), event: byId.get(String(r.event_id))! }))
    .filter((d) => d.event);
}

export async function completeDelivery(
  db: SqlDriver,
  eventId: string,
  endpoint: string,
  status: number,
  now: number,
): Promise<void> {
  await db.run(
    'UPDATE nc_deliveries SET delivered_at = ?, last_status = ?, last_error = NULL, attempts = attempts + 1, lease_until = NULL WHERE event_id = ? AND endpoint = ?',
    [now, status, eventId, endpoint],
  );
}

export async function failDelivery(
  db: SqlDriver,
  eventId: string,
  endpoint: string,
  status: number | null,
  error: string,
  nextAt: number,
): Promise<void> {
  await db.run(
    'UPDATE nc_deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?, next_at = ?, lease_until = NULL WHERE event_id = ? AND endpoint = ? AND delivered_at IS NULL',
    [status, error.slice(0, 500), nextAt, eventId, endpoint],
  );
}

export async function listDeliveries(
  db: SqlDriver,
  q: { pending?: boolean; limit?: number; eventId?: string } = {},
): Promise<Delivery[]> {
  const w = new Where().eq('event_id', q.eventId);
  if (q.pending !== undefined) w.add(q.pending ? 'delivered_at IS NULL' : 'delivered_at IS NOT NULL');
  const rows = await db.all<Row>(`SELECT * FROM nc_deliveries ${w} ORDER BY next_at DESC LIMIT ?`, [
    ...w.params,
    q.limit ?? 200,
  ]);
  return rows.map(deliveryFrom);
}
// --- shared counters --------------------------------------------------------------------------------

export async function hitCounter(
  db: SqlDriver,
  name: string,
  windowStart: number,
  expiresAt: number,
  by = 1,
): Promise<number> {
  const rows = await db.all<{ hits: unknown }>(
    `INSERT INTO nc_counters (name, window_start, hits, expires_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (name, window_start) DO UPDATE SET hits = nc_counters.hits + excluded.hits,
       expires_at = CASE WHEN excluded.expires_at > nc_counters.expires_at THEN excluded.expires_at ELSE nc_counters.expires_at END
     RETURNING hits`,
    [name, windowStart, by, expiresAt],
  );
  return num(rows[0]?.hits ?? 0);
}

export async function readCounter(db: SqlDriver, name: string, windowStart: number): Promise<number> {
  const rows = await db.all<{ hits: unknown }>(
    'SELECT hits FROM nc_counters WHERE name = ? AND window_start = ?',
    [name, windowStart],
  );
  return num(rows[0]?.hits ?? 0);
}
