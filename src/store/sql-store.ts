// The Store on any SqlDriver: every atomic step is one conditional statement or one transaction in the
// database, so it holds across processes and instances.

import { UsageError } from '../usage-error.js';
import { MIGRATIONS } from './migrations.js';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';
import {
  attemptFrom,
  connectionFrom,
  credentialFrom,
  deliveryFrom,
  eventFrom,
  num,
  PATCH_COLUMNS,
  placeholders,
  type Row,
  strOrNull,
  Where,
} from './sql-rows.js';
import type {
  Attempt,
  AttemptPatch,
  AttemptResolution,
  AttemptStatus,
  ClaimResult,
  Connection,
  ConnectionStatus,
  Credential,
  Delivery,
  EventRecord,
  NewAttempt,
  NewEvent,
  PurgeResult,
  RetentionCounts,
  SealedValue,
  SideEffects,
  Store,
} from './types.js';
import { TERMINAL_STATUSES } from './types.js';

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

async function insertEvents(tx: SqlExecutor, events: readonly NewEvent[] | undefined): Promise<void> {
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

/** Makes `c` the connection's active credential; the one active before becomes retiring. Returns that one. */
async function activateCredential(
  tx: SqlExecutor,
  connectionId: string,
  c: Omit<Credential, 'state' | 'removedAt'>,
): Promise<Credential | undefined> {
  const prev = await tx.all<Row>(
    `SELECT * FROM nc_credentials WHERE connection_id = ? AND state = 'active'`,
    [connectionId],
  );
  await tx.run(`UPDATE nc_credentials SET state = 'retiring' WHERE connection_id = ? AND state = 'active'`, [
    connectionId,
  ]);
  await tx.run(
    `INSERT INTO nc_credentials (id, connection_id, tenant, seller_project, key_id, channel_identifier, sealed, state, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?)`,
    [c.id, connectionId, c.tenant, c.sellerProject, c.keyId, c.channelIdentifier, c.sealed, c.createdAt],
  );
  return prev[0] ? credentialFrom(prev[0]) : undefined;
}

export class SqlStore implements Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly #db: SqlDriver;

  constructor(driver: SqlDriver) {
    this.#db = driver;
    this.kind = driver.dialect;
  }

  async migrate(): Promise<void> {
    await this.#db.migrationLock(async (tx) => {
      await tx.run(
        'CREATE TABLE IF NOT EXISTS nc_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const done = new Set(
        (await tx.all<{ version: unknown }>('SELECT version FROM nc_migrations')).map((r) => num(r.version)),
      );
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const s of [...(m.dialect?.[this.kind] ?? []), ...m.statements]) await tx.run(s);
        await tx.run('INSERT INTO nc_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
          m.version,
          m.name,
          Date.now(),
        ]);
      }
    });
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  async ping(): Promise<void> {
    await this.#db.all('SELECT 1 AS ok');
  }

  async scrub(): Promise<void> {
    await this.#db.scrub?.();
  }

  // --- meta -----------------------------------------------------------------------------------------

  async getMeta(name: string): Promise<string | undefined> {
    const rows = await this.#db.all<{ value: string }>('SELECT value FROM nc_meta WHERE name = ?', [name]);
    return rows[0]?.value;
  }

  async setMetaIfAbsent(name: string, value: string): Promise<string> {
    await this.#db.run('INSERT INTO nc_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', [
      name,
      value,
    ]);
    return (await this.getMeta(name)) ?? value;
  }

  async setMeta(name: string, value: string): Promise<void> {
    await this.#db.run(
      'INSERT INTO nc_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
      [name, value],
    );
  }

  // --- attempts -------------------------------------------------------------------------------------

  async createAttempt(a: NewAttempt): Promise<void> {
    await this.#db.run(
      `INSERT INTO nc_attempts (id, kind, tenant, state_hash, environment, return_to, status, created_at, expires_at, updated_at, connection_id, seller_project)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        a.id,
        a.kind ?? 'connect',
        a.tenant,
        a.stateHash ?? null,
        a.environment,
        a.returnTo,
        a.status ?? 'STARTED',
        a.createdAt,
        a.expiresAt,
        a.createdAt,
        a.connectionId ?? null,
        a.sellerProject ?? null,
      ],
    );
  }

  async claimAttempt(stateHash: string, now: number): Promise<ClaimResult> {
    const rows = await this.#db.all<Row>(
      `UPDATE nc_attempts SET consumed_at = ?, updated_at = ?,
         status = CASE WHEN expires_at > ? THEN 'CLAIMED' ELSE 'FAILED' END,
         error_code = CASE WHEN expires_at > ? THEN error_code ELSE 'STATE_EXPIRED' END
       WHERE state_hash = ? AND consumed_at IS NULL AND status = 'STARTED'
       RETURNING *`,
      [now, now, now, now, stateHash],
    );
    const claimed = rows[0];
    if (claimed) {
      const attempt = attemptFrom(claimed);
      return attempt.status === 'CLAIMED' ? { outcome: 'claimed', attempt } : { outcome: 'expired', attempt };
    }
    const existing = await this.#db.all<Row>('SELECT * FROM nc_attempts WHERE state_hash = ?', [stateHash]);
    return existing[0] ? { outcome: 'consumed', attempt: attemptFrom(existing[0]) } : { outcome: 'unknown' };
  }

  async getAttempt(id: string): Promise<Attempt | undefined> {
    const rows = await this.#db.all<Row>('SELECT * FROM nc_attempts WHERE id = ?', [id]);
    return rows[0] ? attemptFrom(rows[0]) : undefined;
  }

  async transition(
    id: string,
    from: AttemptStatus | readonly AttemptStatus[],
    to: AttemptStatus,
    patch: AttemptPatch,
    now: number,
    effects?: SideEffects,
  ): Promise<boolean> {
    const fromList = typeof from === 'string' ? [from] : [...from];
    const sets = ['status = ?', 'updated_at = ?'];
    const params: unknown[] = [to, now];
    for (const [k, v] of Object.entries(patch)) {
      const col = PATCH_COLUMNS[k as keyof AttemptPatch];
      if (!col) throw new UsageError('ERR_STORE_INVALID_ARGUMENT', `unknown attempt field ${k}`);
      sets.push(`${col} = ?`);
      params.push(v ?? null);
    }
    let sql = `UPDATE nc_attempts SET ${sets.join(', ')} WHERE id = ? AND status IN (${placeholders(fromList.length)})`;
    params.push(id, ...fromList);
    if (effects?.ifUpdatedAt !== undefined) {
      sql += ' AND updated_at = ?';
      params.push(effects.ifUpdatedAt);
    }
    if (!effects?.events?.length && !effects?.durable) return (await this.#db.run(sql, params)) === 1;
    return this.#db.transaction(
      async (tx) => {
        if ((await tx.run(sql, params)) !== 1) return false;
        await insertEvents(tx, effects.events);
        return true;
      },
      { durable: effects.durable ?? false },
    );
  }

  storeExchangeBody(id: string, sealedBody: string, now: number): Promise<boolean> {
    return this.#db.transaction(
      async (tx) =>
        (await tx.run(
          `UPDATE nc_attempts SET status = 'KEY_STORED', raw_exchange_sealed = ?, access_token_sealed = NULL, updated_at = ?
           WHERE id = ? AND status = 'EXCHANGE_SENT'`,
          [sealedBody, now, id],
        )) === 1,
      { durable: true },
    );
  }

  async listAttempts(q: Parameters<Store['listAttempts']>[0]): Promise<Attempt[]> {
    const w = new Where()
      .eq('kind', q.kind)
      .eq('connection_id', q.connectionId)
      .eq('seller_project', q.sellerProject)
      .in('status', q.statuses)
      .eq('tenant', q.tenant);
    if (q.updatedBefore !== undefined) w.add('updated_at < ?', q.updatedBefore);
    if (q.unresolved) w.add('resolved_at IS NULL');
    const rows = await this.#db.all<Row>(
      `SELECT * FROM nc_attempts ${w} ORDER BY ${q.order === 'oldest' ? 'updated_at ASC' : 'created_at DESC'}, id LIMIT ?`,
      [...w.params, q.limit ?? 500],
    );
    return rows.map(attemptFrom);
  }

  async countAttempts(statuses: readonly AttemptStatus[], q: { unresolved?: boolean } = {}): Promise<number> {
    if (statuses.length === 0) return 0;
    const rows = await this.#db.all<{ n: unknown }>(
      `SELECT COUNT(*) AS n FROM nc_attempts WHERE status IN (${placeholders(statuses.length)})${
        q.unresolved ? ' AND resolved_at IS NULL' : ''
      }`,
      [...statuses],
    );
    return num(rows[0]?.n ?? 0);
  }

  expireStarted(now: number): Promise<number> {
    return this.#db.run(
      `UPDATE nc_attempts SET status = 'FAILED', error_code = 'STATE_EXPIRED', updated_at = ? WHERE status = 'STARTED' AND expires_at <= ?`,
      [now, now],
    );
  }

  // --- exchange slots -------------------------------------------------------------------------------

  async takeExchangeSlot(
    tenant: string,
    sellerProject: string,
    attemptId: string,
    now: number,
  ): Promise<boolean> {
    const n = await this.#db.run(
      'INSERT INTO nc_exchange_slots (tenant, seller_project, attempt_id, taken_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, seller_project) DO NOTHING',
      [tenant, sellerProject, attemptId, now],
    );
    if (n === 1) return true;
    const slot = await this.getExchangeSlot(tenant, sellerProject);
    return slot?.attemptId === attemptId;
  }

  async releaseExchangeSlot(tenant: string, sellerProject: string, attemptId: string): Promise<void> {
    await this.#db.run(
      'DELETE FROM nc_exchange_slots WHERE tenant = ? AND seller_project = ? AND attempt_id = ?',
      [tenant, sellerProject, attemptId],
    );
  }

  async getExchangeSlot(
    tenant: string,
    sellerProject: string,
  ): Promise<{ attemptId: string; takenAt: number } | undefined> {
    const rows = await this.#db.all<Row>(
      'SELECT attempt_id, taken_at FROM nc_exchange_slots WHERE tenant = ? AND seller_project = ?',
      [tenant, sellerProject],
    );
    const r = rows[0];
    return r ? { attemptId: String(r.attempt_id), takenAt: num(r.taken_at) } : undefined;
  }

  // --- connections and credentials ------------------------------------------------------------------

  async getConnection(id: string): Promise<Connection | undefined> {
    const rows = await this.#db.all<Row>('SELECT * FROM nc_connections WHERE id = ?', [id]);
    return rows[0] ? connectionFrom(rows[0]) : undefined;
  }

  async findConnection(tenant: string, sellerProject: string): Promise<Connection | undefined> {
    const rows = await this.#db.all<Row>(
      'SELECT * FROM nc_connections WHERE tenant = ? AND seller_project = ?',
      [tenant, sellerProject],
    );
    return rows[0] ? connectionFrom(rows[0]) : undefined;
  }

  async listConnections(q: { tenant?: string; status?: ConnectionStatus } = {}): Promise<Connection[]> {
    const w = new Where().eq('tenant', q.tenant).eq('status', q.status);
    const rows = await this.#db.all<Row>(
      `SELECT * FROM nc_connections ${w} ORDER BY created_at, id`,
      w.params,
    );
    return rows.map(connectionFrom);
  }

  connect(input: Parameters<Store['connect']>[0]): ReturnType<Store['connect']> {
    const { credential: c, now } = input;
    return this.#db.transaction(
      async (tx) => {
        const moved = await tx.run(
          `UPDATE nc_attempts SET status = 'CONNECTED', updated_at = ?, connection_id = ?, key_id = ?, channel_identifier = ?,
             oauth_request_id = COALESCE(?, oauth_request_id), raw_exchange_sealed = NULL
           WHERE id = ? AND status = 'KEY_STORED'`,
          [now, input.connectionId, c.keyId, c.channelIdentifier, input.oauthRequestId, input.attemptId],
        );
        if (moved !== 1) return undefined;
        const existing = (
          await tx.all<Row>('SELECT * FROM nc_connections WHERE tenant = ? AND seller_project = ?', [
            c.tenant,
            c.sellerProject,
          ])
        )[0];
        const connectionId = existing ? String(existing.id) : input.connectionId;
        if (!existing) {
          await tx.run(
            `INSERT INTO nc_connections (id, tenant, seller_project, status, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, ?)`,
            [connectionId, c.tenant, c.sellerProject, now, now],
          );
        } else if (connectionId !== input.connectionId) {
          await tx.run('UPDATE nc_attempts SET connection_id = ? WHERE id = ?', [
            connectionId,
            input.attemptId,
          ]);
        }
        const previous = await activateCredential(tx, connectionId, c);
        await tx.run(
          `UPDATE nc_connections SET status = 'active', credential_id = ?, key_id = ?, channel_identifier = ?,
             user_code = COALESCE(?, user_code), oauth_request_id = COALESCE(?, oauth_request_id), updated_at = ?, connected_at = ?
           WHERE id = ?`,
          [c.id, c.keyId, c.channelIdentifier, input.userCode, input.oauthRequestId, now, now, connectionId],
        );
        await insertEvents(
          tx,
          input.events?.map((e) => ({ ...e, connectionId })),
        );
        const row = (await tx.all<Row>('SELECT * FROM nc_connections WHERE id = ?', [connectionId]))[0]!;
        return {
          connection: connectionFrom(row),
          previous,
        };
      },
      { durable: true },
    );
  }

  async getCredential(id: string): Promise<Credential | undefined> {
    const rows = await this.#db.all<Row>('SELECT * FROM nc_credentials WHERE id = ?', [id]);
    return rows[0] ? credentialFrom(rows[0]) : undefined;
  }

  async listCredentials(q: Parameters<Store['listCredentials']>[0]): Promise<Credential[]> {
    const w = new Where()
      .eq('channel_identifier', q.channelIdentifier)
      .eq('seller_project', q.sellerProject)
      .eq('connection_id', q.connectionId)
      .in('state', q.states);
    const rows = await this.#db.all<Row>(
      `SELECT * FROM nc_credentials ${w} ORDER BY created_at, id`,
      w.params,
    );
    return rows.map(credentialFrom);
  }

  markCredentialRemoved(id: string, now: number, effects?: SideEffects): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const n = await tx.run(
        `UPDATE nc_credentials SET state = 'removed', removed_at = ? WHERE id = ? AND state <> 'removed'`,
        [now, id],
      );
      if (n === 1) await insertEvents(tx, effects?.events);
      return n === 1;
    });
  }

  updateConnection(
    id: string,
    patch: Partial<
      Pick<Connection, 'status' | 'lastHealthAt' | 'lastHealthOk' | 'lastHealthDetail' | 'userCode'>
    >,
    now: number,
    effects?: SideEffects,
  ): Promise<boolean> {
    const cols: Record<string, string> = {
      status: 'status',
      lastHealthAt: 'last_health_at',
      lastHealthOk: 'last_health_ok',
      lastHealthDetail: 'last_health_detail',
      userCode: 'user_code',
    };
    const sets = ['updated_at = ?'];
    const params: unknown[] = [now];
    for (const [k, v] of Object.entries(patch)) {
      const col = cols[k];
      if (!col) throw new UsageError('ERR_STORE_INVALID_ARGUMENT', `unknown connection field ${k}`);
      sets.push(`${col} = ?`);
      params.push(typeof v === 'boolean' ? (v ? 1 : 0) : (v ?? null));
    }
    params.push(id);
    return this.#db.transaction(async (tx) => {
      const n = await tx.run(`UPDATE nc_connections SET ${sets.join(', ')} WHERE id = ?`, params);
      if (n === 1) await insertEvents(tx, effects?.events);
      return n === 1;
    });
  }

  disconnectConnection(id: string, now: number, effects?: SideEffects): Promise<Credential[] | undefined> {
    return this.#db.transaction(async (tx) => {
      const n = await tx.run(
        `UPDATE nc_connections SET status = 'disconnected', updated_at = ? WHERE id = ? AND status <> 'disconnected'`,
        [now, id],
      );
      if (n !== 1) return undefined;
      await tx.run(
        `UPDATE nc_credentials SET state = 'retiring' WHERE connection_id = ? AND state = 'active'`,
        [id],
      );
      await insertEvents(tx, effects?.events);
      const rows = await tx.all<Row>(
        `SELECT * FROM nc_credentials WHERE connection_id = ? AND state = 'retiring' ORDER BY created_at, id`,
        [id],
      );
      return rows.map(credentialFrom);
    });
  }

  // --- vault re-wrap ---------------------------------------------------------------------------------

  async listSealedValues(q: { after?: string; limit: number }): Promise<SealedValue[]> {
    const rows = await this.#db.all<Row>(
      `SELECT * FROM (
         SELECT 'attempt.access_token' AS col, id, access_token_sealed AS sealed, tenant, seller_project FROM nc_attempts WHERE access_token_sealed IS NOT NULL
         UNION ALL SELECT 'attempt.raw_exchange', id, raw_exchange_sealed, tenant, seller_project FROM nc_attempts WHERE raw_exchange_sealed IS NOT NULL
         UNION ALL SELECT 'credential.sealed', id, sealed, tenant, seller_project FROM nc_credentials
         UNION ALL SELECT 'meta', name, value, NULL, NULL FROM nc_meta WHERE value LIKE 'ncv1.%'
       ) v WHERE col || '|' || id > ? ORDER BY col || '|' || id LIMIT ?`,
      [q.after ?? '', q.limit],
    );
    return rows.map((r) => ({
      column: String(r.col) as SealedValue['column'],
      id: String(r.id),
      key: `${String(r.col)}|${String(r.id)}`,
      sealed: String(r.sealed),
      tenant: strOrNull(r.tenant),
      sellerProject: strOrNull(r.seller_project),
    }));
  }

  async replaceSealed(v: Pick<SealedValue, 'column' | 'id'>, from: string, to: string): Promise<boolean> {
    const sql: Record<SealedValue['column'], string> = {
      'attempt.access_token':
        'UPDATE nc_attempts SET access_token_sealed = ? WHERE id = ? AND access_token_sealed = ?',
      'attempt.raw_exchange':
        'UPDATE nc_attempts SET raw_exchange_sealed = ? WHERE id = ? AND raw_exchange_sealed = ?',
      'credential.sealed': 'UPDATE nc_credentials SET sealed = ? WHERE id = ? AND sealed = ?',
      meta: 'UPDATE nc_meta SET value = ? WHERE name = ? AND value = ?',
    };
    const statement = sql[v.column];
    if (!statement) throw new UsageError('ERR_STORE_INVALID_ARGUMENT', 'unknown sealed column');
    return this.#db.transaction(async (tx) => (await tx.run(statement, [to, v.id, from])) === 1, {
      durable: true,
    });
  }

  // --- events and deliveries ------------------------------------------------------------------------

  async appendEvents(events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.#db.transaction((tx) => insertEvents(tx, events));
  }

  async listEvents(
    q: { limit?: number; tenant?: string; connectionId?: string } = {},
  ): Promise<EventRecord[]> {
    const w = new Where().eq('tenant', q.tenant).eq('connection_id', q.connectionId);
    const rows = await this.#db.all<Row>(
      `SELECT * FROM nc_events ${w} ORDER BY created_at DESC, id LIMIT ?`,
      [...w.params, q.limit ?? 200],
    );
    return rows.map(eventFrom);
  }

  async leaseDueDeliveries(
    now: number,
    leaseMs: number,
    limit: number,
  ): Promise<(Delivery & { event: EventRecord })[]> {
    // The outer WHERE repeats the due/lease test so a concurrent leaser that lost the race updates nothing.
    const rows = await this.#db.all<Row>(
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
    const events = await this.#db.all<Row>(
      `SELECT * FROM nc_events WHERE id IN (${placeholders(ids.length)})`,
      ids,
    );
    const byId = new Map(events.map((e) => [String(e.id), eventFrom(e)]));
    return rows
      .map((r) => ({ ...deliveryFrom(r), event: byId.get(String(r.event_id))! }))
      .filter((d) => d.event);
  }

  async completeDelivery(eventId: string, endpoint: string, status: number, now: number): Promise<void> {
    await this.#db.run(
      'UPDATE nc_deliveries SET delivered_at = ?, last_status = ?, last_error = NULL, attempts = attempts + 1, lease_until = NULL WHERE event_id = ? AND endpoint = ?',
      [now, status, eventId, endpoint],
    );
  }

  async failDelivery(
    eventId: string,
    endpoint: string,
    status: number | null,
    error: string,
    nextAt: number,
  ): Promise<void> {
    await this.#db.run(
      'UPDATE nc_deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?, next_at = ?, lease_until = NULL WHERE event_id = ? AND endpoint = ? AND delivered_at IS NULL',
      [status, error.slice(0, 500), nextAt, eventId, endpoint],
    );
  }

  async listDeliveries(q: { pending?: boolean; limit?: number; eventId?: string } = {}): Promise<Delivery[]> {
    const w = new Where().eq('event_id', q.eventId);
    if (q.pending !== undefined) w.add(q.pending ? 'delivered_at IS NULL' : 'delivered_at IS NOT NULL');
    const rows = await this.#db.all<Row>(`SELECT * FROM nc_deliveries ${w} ORDER BY next_at DESC LIMIT ?`, [
      ...w.params,
      q.limit ?? 200,
    ]);
    return rows.map(deliveryFrom);
  }
  // --- shared counters --------------------------------------------------------------------------------

  async hitCounter(name: string, windowStart: number, expiresAt: number, by = 1): Promise<number> {
    const rows = await this.#db.all<{ hits: unknown }>(
      `INSERT INTO nc_counters (name, window_start, hits, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name, window_start) DO UPDATE SET hits = nc_counters.hits + excluded.hits,
         expires_at = CASE WHEN excluded.expires_at > nc_counters.expires_at THEN excluded.expires_at ELSE nc_counters.expires_at END
       RETURNING hits`,
      [name, windowStart, by, expiresAt],
    );
    return num(rows[0]?.hits ?? 0);
  }

  async readCounter(name: string, windowStart: number): Promise<number> {
    const rows = await this.#db.all<{ hits: unknown }>(
      'SELECT hits FROM nc_counters WHERE name = ? AND window_start = ?',
      [name, windowStart],
    );
    return num(rows[0]?.hits ?? 0);
  }

  // --- retention ------------------------------------------------------------------------------------

  async resolveAttempt(id: string, resolution: AttemptResolution, now: number): Promise<boolean> {
    // Durable: the answer may have been the only copy of a key; once the decision is recorded it is gone.
    return this.#db.transaction(
      async (tx) =>
        (await tx.run(
          `UPDATE nc_attempts SET resolved_at = ?, resolution = ?, raw_exchange_sealed = NULL, updated_at = ?
           WHERE id = ? AND status = 'NEEDS_ATTENTION' AND resolved_at IS NULL`,
          [now, resolution, now, id],
        )) === 1,
      { durable: true },
    );
  }

  async purge(q: { before: number; now: number; limit: number }): Promise<PurgeResult> {
    const limit = Math.max(1, Math.floor(q.limit));
    // Each statement is its own short transaction on at most `limit` rows, so callbacks wait for one batch at
    // most, never for the whole purge. No ORDER BY: any rows past the cut-off will do, and an index scan can stop
    // at the limit instead of sorting every candidate for each batch.
    const attempts = await this.#db.run(
      `DELETE FROM nc_attempts WHERE id IN (
         SELECT id FROM nc_attempts WHERE ${PURGEABLE_ATTEMPT} LIMIT ?)`,
      [...TERMINAL_STATUSES, q.before, limit],
    );
    const deliveries = await this.#db.run(
      `DELETE FROM nc_deliveries WHERE (event_id, endpoint) IN (
         SELECT event_id, endpoint FROM nc_deliveries WHERE ${PURGEABLE_DELIVERY} LIMIT ?)`,
      [q.before, limit],
    );
    const events = await this.#db.run(
      `DELETE FROM nc_events WHERE id IN (
         SELECT id FROM nc_events WHERE ${PURGEABLE_EVENT} LIMIT ?)`,
      [q.before, limit],
    );
    const counters = await this.#db.run(
      `DELETE FROM nc_counters WHERE (name, window_start) IN (
         SELECT name, window_start FROM nc_counters WHERE expires_at <= ? LIMIT ?)`,
      [q.now, limit],
    );
    return { attempts, events, deliveries, counters };
  }

  async retentionCounts(before: number): Promise<RetentionCounts> {
    const count = async (sql: string, params: unknown[] = []) =>
      num((await this.#db.all<{ n: unknown }>(sql, params))[0]?.n ?? 0);
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
}
