// The service's shared state in SQL: admin sessions, API tokens, the audit log and leases (see
// ServiceStateStore). Every step is one conditional statement or one transaction, so it holds across instances.
// SqlStore delegates to these functions.

import type { SqlDriver, SqlExecutor } from './sql-driver.js';
import { num, numOrNull, type Row, strOrNull, Where } from './sql-rows.js';
import type { AdminSession, ApiTokenRecord, AuditEntry, NewEvent } from './types.js';

function sessionFrom(r: Row): AdminSession {
  return {
    idHash: String(r.id_hash),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function tokenFrom(r: Row): ApiTokenRecord {
  return {
    prefix: String(r.prefix),
    hash: String(r.hash),
    name: String(r.name),
    tenant: strOrNull(r.tenant),
    createdAt: num(r.created_at),
    createdBy: String(r.created_by),
    expiresAt: numOrNull(r.expires_at),
    lastUsedAt: numOrNull(r.last_used_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function auditFrom(r: Row): AuditEntry {
  return {
    id: String(r.id),
    at: num(r.at),
    actor: String(r.actor),
    action: String(r.action),
    tenant: strOrNull(r.tenant),
    connectionId: strOrNull(r.connection_id),
    outcome: String(r.outcome),
    detail: strOrNull(r.detail),
  };
}

// --- sessions -------------------------------------------------------------------------------------------

export async function createSession(
  db: SqlExecutor,
  s: { idHash: string; createdAt: number; expiresAt: number },
): Promise<void> {
  await db.run('INSERT INTO nc_sessions (id_hash, created_at, expires_at) VALUES (?, ?, ?)', [
    s.idHash,
    s.createdAt,
    s.expiresAt,
  ]);
}

export async function getSession(
  db: SqlExecutor,
  idHash: string,
  now: number,
): Promise<AdminSession | undefined> {
  const rows = await db.all<Row>(
    'SELECT * FROM nc_sessions WHERE id_hash = ? AND revoked_at IS NULL AND expires_at > ?',
    [idHash, now],
  );
  return rows[0] ? sessionFrom(rows[0]) : undefined;
}

export async function revokeSession(db: SqlExecutor, idHash: string, now: number): Promise<boolean> {
  return (
    (await db.run(
      'UPDATE nc_sessions SET revoked_at = ?, flash = NULL WHERE id_hash = ? AND revoked_at IS NULL',
      [now, idHash],
    )) === 1
  );
}

export async function setSessionFlash(db: SqlExecutor, idHash: string, flash: string): Promise<void> {
  await db.run('UPDATE nc_sessions SET flash = ? WHERE id_hash = ? AND revoked_at IS NULL', [flash, idHash]);
}

export async function takeSessionFlash(db: SqlExecutor, idHash: string): Promise<string | undefined> {
  const rows = await db.all<{ flash: unknown }>('SELECT flash FROM nc_sessions WHERE id_hash = ?', [idHash]);
  const flash = rows[0]?.flash;
  if (flash === null || flash === undefined) return undefined;
  // Compare-and-set: of two concurrent takes only one clears this very message and shows it.
  const taken = await db.run('UPDATE nc_sessions SET flash = NULL WHERE id_hash = ? AND flash = ?', [
    idHash,
    String(flash),
  ]);
  return taken === 1 ? String(flash) : undefined;
}

// --- API tokens -----------------------------------------------------------------------------------------

export async function createApiToken(db: SqlExecutor, t: ApiTokenRecord): Promise<void> {
  await db.run(
    `INSERT INTO nc_api_tokens (prefix, hash, name, tenant, created_at, created_by, expires_at, last_used_at, revoked_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [t.prefix, t.hash, t.name, t.tenant, t.createdAt, t.createdBy, t.expiresAt, t.lastUsedAt, t.revokedAt],
  );
}

export async function findApiToken(db: SqlExecutor, hash: string): Promise<ApiTokenRecord | undefined> {
  const rows = await db.all<Row>('SELECT * FROM nc_api_tokens WHERE hash = ?', [hash]);
  return rows[0] ? tokenFrom(rows[0]) : undefined;
}

export async function getApiToken(db: SqlExecutor, prefix: string): Promise<ApiTokenRecord | undefined> {
  const rows = await db.all<Row>('SELECT * FROM nc_api_tokens WHERE prefix = ?', [prefix]);
  return rows[0] ? tokenFrom(rows[0]) : undefined;
}

export async function listApiTokens(db: SqlExecutor, q: { tenant?: string } = {}): Promise<ApiTokenRecord[]> {
  const w = new Where().eq('tenant', q.tenant);
  const rows = await db.all<Row>(
    `SELECT * FROM nc_api_tokens ${w} ORDER BY created_at DESC, prefix`,
    w.params,
  );
  return rows.map(tokenFrom);
}

export async function revokeApiToken(db: SqlExecutor, prefix: string, now: number): Promise<boolean> {
  return (
    (await db.run('UPDATE nc_api_tokens SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL', [
      now,
      prefix,
    ])) === 1
  );
}

export async function touchApiToken(
  db: SqlExecutor,
  prefix: string,
  now: number,
  everyMs: number,
): Promise<void> {
  await db.run(
    'UPDATE nc_api_tokens SET last_used_at = ? WHERE prefix = ? AND (last_used_at IS NULL OR last_used_at <= ?)',
    [now, prefix, now - everyMs],
  );
}

// --- audit ----------------------------------------------------------------------------------------------

export async function appendAudit(db: SqlExecutor, e: AuditEntry): Promise<void> {
  await db.run(
    'INSERT INTO nc_audit (id, at, actor, action, tenant, connection_id, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    [e.id, e.at, e.actor, e.action, e.tenant, e.connectionId, e.outcome, e.detail],
  );
}

export async function listAudit(
  db: SqlExecutor,
  q: { limit?: number; tenant?: string; connectionId?: string; actor?: string } = {},
): Promise<AuditEntry[]> {
  const w = new Where().eq('tenant', q.tenant).eq('connection_id', q.connectionId).eq('actor', q.actor);
  const rows = await db.all<Row>(`SELECT * FROM nc_audit ${w} ORDER BY at DESC, id DESC LIMIT ?`, [
    ...w.params,
    Math.max(1, Math.min(q.limit ?? 200, 1000)),
  ]);
  return rows.map(auditFrom);
}

// --- leases ---------------------------------------------------------------------------------------------

export async function tryLease(
  db: SqlExecutor,
  name: string,
  owner: string,
  now: number,
  ttlMs: number,
): Promise<boolean> {
  // One statement: inserted when free, taken over when expired, renewed by its owner; otherwise nothing changes.
  const changed = await db.run(
    `INSERT INTO nc_leases (name, owner, expires_at) VALUES (?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
     WHERE nc_leases.expires_at <= ? OR nc_leases.owner = excluded.owner`,
    [name, owner, now + ttlMs, now],
  );
  return changed === 1;
}

export async function releaseLease(db: SqlExecutor, name: string, owner: string): Promise<void> {
  await db.run('DELETE FROM nc_leases WHERE name = ? AND owner = ?', [name, owner]);
}

// --- health ---------------------------------------------------------------------------------------------

export async function markNeedsReconnect(
  db: SqlDriver,
  connectionId: string,
  keyId: string,
  now: number,
  events: readonly NewEvent[],
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const moved = await tx.run(
      `UPDATE nc_connections SET status = 'needs_reconnect', updated_at = ?
       WHERE id = ? AND status = 'active' AND key_id = ?`,
      [now, connectionId, keyId],
    );
    if (moved !== 1) return false;
    for (const e of events) {
      await tx.run(
        'INSERT INTO nc_events (id, type, tenant, connection_id, attempt_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [e.id, e.type, e.tenant, e.connectionId, e.attemptId, e.payload, e.createdAt],
      );
      for (const endpoint of e.endpoints)
        await tx.run(
          'INSERT INTO nc_deliveries (event_id, endpoint, attempts, next_at) VALUES (?, ?, 0, ?)',
          [e.id, endpoint, e.createdAt],
        );
    }
    return true;
  });
}

// --- retention ------------------------------------------------------------------------------------------

export async function purgeServiceState(
  db: SqlExecutor,
  q: { now: number; auditBefore: number; limit: number },
): Promise<number> {
  const limit = Math.max(1, Math.floor(q.limit));
  const sessions = await db.run(
    `DELETE FROM nc_sessions WHERE id_hash IN (
       SELECT id_hash FROM nc_sessions WHERE expires_at <= ? OR revoked_at IS NOT NULL LIMIT ?)`,
    [q.now, limit],
  );
  const audit = await db.run(
    'DELETE FROM nc_audit WHERE id IN (SELECT id FROM nc_audit WHERE at < ? LIMIT ?)',
    [q.auditBefore, limit],
  );
  return sessions + audit;
}
