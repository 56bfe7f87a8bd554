// The Store on any SqlDriver: every atomic step is one conditional statement or one transaction in the
// database, so it holds across processes and instances.

import { UsageError } from '../usage-error.js';
import { MIGRATIONS } from './migrations.js';
import { connectCommit } from './sql-connect.js';
import type { SqlDriver, SqlExecutor } from './sql-driver.js';
import * as events_ from './sql-events.js';
import { insertEvents } from './sql-events.js';
import * as retention from './sql-retention.js';
import {
  attemptFrom,
  connectionFrom,
  credentialFrom,
  num,
  PATCH_COLUMNS,
  placeholders,
  type Row,
  strOrNull,
  Where,
} from './sql-rows.js';
import * as state from './sql-service-state.js';
import type {
  AdminSession,
  ApiTokenRecord,
  Attempt,
  AttemptPatch,
  AttemptResolution,
  AttemptStatus,
  AuditEntry,
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
    return connectCommit(this.#db, input);
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

  // --- events, deliveries and counters: see sql-events.ts ----------------------------------------------

  appendEvents(events: NewEvent[]): Promise<void> {
    return events_.appendEvents(this.#db, events);
  }
  listEvents(q?: { limit?: number; tenant?: string; connectionId?: string }): Promise<EventRecord[]> {
    return events_.listEvents(this.#db, q);
  }
  leaseDueDeliveries(
    now: number,
    leaseMs: number,
    limit: number,
  ): Promise<(Delivery & { event: EventRecord })[]> {
    return events_.leaseDueDeliveries(this.#db, now, leaseMs, limit);
  }
  completeDelivery(eventId: string, endpoint: string, status: number, now: number): Promise<void> {
    return events_.completeDelivery(this.#db, eventId, endpoint, status, now);
  }
  failDelivery(
    eventId: string,
    endpoint: string,
    status: number | null,
    error: string,
    nextAt: number,
  ): Promise<void> {
    return events_.failDelivery(this.#db, eventId, endpoint, status, error, nextAt);
  }
  listDeliveries(q?: { pending?: boolean; limit?: number; eventId?: string }): Promise<Delivery[]> {
    return events_.listDeliveries(this.#db, q);
  }
  hitCounter(name: string, windowStart: number, expiresAt: number, by?: number): Promise<number> {
    return events_.hitCounter(this.#db, name, windowStart, expiresAt, by);
  }
  readCounter(name: string, windowStart: number): Promise<number> {
    return events_.readCounter(this.#db, name, windowStart);
  }

  // --- retention: see sql-retention.ts ------------------------------------------------------------------

  resolveAttempt(id: string, resolution: AttemptResolution, now: number): Promise<boolean> {
    return retention.resolveAttempt(this.#db, id, resolution, now);
  }
  purge(q: { before: number; now: number; limit: number }): Promise<PurgeResult> {
    return retention.purge(this.#db, q);
  }
  retentionCounts(before: number): Promise<RetentionCounts> {
    return retention.retentionCounts(this.#db, before);
  }

  // --- the service's shared state (sessions, API tokens, audit, leases): see sql-service-state.ts ---------

  createSession(s: Parameters<Store['createSession']>[0]): Promise<void> {
    return state.createSession(this.#db, s);
  }
  getSession(idHash: string, now: number): Promise<AdminSession | undefined> {
    return state.getSession(this.#db, idHash, now);
  }
  revokeSession(idHash: string, now: number): Promise<boolean> {
    return state.revokeSession(this.#db, idHash, now);
  }
  setSessionFlash(idHash: string, flash: string): Promise<void> {
    return state.setSessionFlash(this.#db, idHash, flash);
  }
  takeSessionFlash(idHash: string): Promise<string | undefined> {
    return state.takeSessionFlash(this.#db, idHash);
  }
  createApiToken(t: ApiTokenRecord): Promise<void> {
    return state.createApiToken(this.#db, t);
  }
  findApiToken(hash: string): Promise<ApiTokenRecord | undefined> {
    return state.findApiToken(this.#db, hash);
  }
  getApiToken(prefix: string): Promise<ApiTokenRecord | undefined> {
    return state.getApiToken(this.#db, prefix);
  }
  listApiTokens(q?: { tenant?: string }): Promise<ApiTokenRecord[]> {
    return state.listApiTokens(this.#db, q);
  }
  revokeApiToken(prefix: string, now: number): Promise<boolean> {
    return state.revokeApiToken(this.#db, prefix, now);
  }
  touchApiToken(prefix: string, now: number, everyMs: number): Promise<void> {
    return state.touchApiToken(this.#db, prefix, now, everyMs);
  }
  appendAudit(e: AuditEntry): Promise<void> {
    return state.appendAudit(this.#db, e);
  }
  listAudit(q?: Parameters<Store['listAudit']>[0]): Promise<AuditEntry[]> {
    return state.listAudit(this.#db, q);
  }
  tryLease(name: string, owner: string, now: number, ttlMs: number): Promise<boolean> {
    return state.tryLease(this.#db, name, owner, now, ttlMs);
  }
  releaseLease(name: string, owner: string): Promise<void> {
    return state.releaseLease(this.#db, name, owner);
  }
  markNeedsReconnect(connectionId: string, keyId: string, now: number, events: NewEvent[]): Promise<boolean> {
    return state.markNeedsReconnect(this.#db, connectionId, keyId, now, events);
  }
  purgeServiceState(q: { now: number; auditBefore: number; limit: number }): Promise<number> {
    return state.purgeServiceState(this.#db, q);
  }
}
