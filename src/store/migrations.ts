// Versioned schema migrations, applied at start under a cross-process lock (see SqlDriver.migrationLock). An
// applied migration is never edited: a change to the schema or to what rows mean is a new version that upgrades
// the databases already in use.

export interface Migration {
  version: number;
  name: string;
  /** Statements for every dialect, run after the dialect's own. */
  statements: readonly string[];
  /** Statements one dialect needs first (SQLite cannot change a column in place; it rebuilds the table). */
  dialect?: Readonly<Partial<Record<'sqlite' | 'postgres', readonly string[]>>>;
}

/** The attempts table's columns after version 2, in their stored order. */
const ATTEMPT_COLUMNS =
  'id, kind, tenant, state_hash, environment, return_to, status, created_at, expires_at, updated_at, ' +
  'consumed_at, connection_id, seller_project, access_token_sealed, token_expires_at, raw_exchange_sealed, ' +
  'oauth_request_id, key_id, channel_identifier, exchange_sends, error_code, error_detail';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'connect journal, connections, credentials, outbox',
    statements: [
      `CREATE TABLE nc_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
      `CREATE TABLE nc_attempts (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL DEFAULT 'connect',
        tenant TEXT NOT NULL,
        state_hash TEXT NOT NULL UNIQUE,
        environment TEXT NOT NULL,
        return_to TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        consumed_at BIGINT,
        connection_id TEXT,
        seller_project TEXT,
        access_token_sealed TEXT,
        token_expires_at BIGINT,
        raw_exchange_sealed TEXT,
        oauth_request_id TEXT,
        key_id TEXT,
        channel_identifier TEXT,
        exchange_sends INTEGER NOT NULL DEFAULT 0,
        error_code TEXT,
        error_detail TEXT
      )`,
      `CREATE INDEX nc_attempts_status ON nc_attempts (status, updated_at)`,
      `CREATE TABLE nc_exchange_slots (
        tenant TEXT NOT NULL,
        seller_project TEXT NOT NULL,
        attempt_id TEXT NOT NULL,
        taken_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, seller_project)
      )`,
      `CREATE TABLE nc_connections (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        seller_project TEXT NOT NULL,
        status TEXT NOT NULL,
        credential_id TEXT,
        key_id TEXT,
        channel_identifier TEXT,
        user_code TEXT,
        oauth_request_id TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        connected_at BIGINT,
        last_health_at BIGINT,
        last_health_ok INTEGER,
        last_health_detail TEXT,
        UNIQUE (tenant, seller_project)
      )`,
      `CREATE TABLE nc_credentials (
        id TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        seller_project TEXT NOT NULL,
        key_id TEXT NOT NULL,
        channel_identifier TEXT NOT NULL,
        sealed TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        removed_at BIGINT
      )`,
      `CREATE INDEX nc_credentials_connection ON nc_credentials (connection_id, state)`,
      `CREATE TABLE nc_events (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        tenant TEXT NOT NULL,
        connection_id TEXT,
        attempt_id TEXT,
        payload TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE INDEX nc_events_created ON nc_events (created_at)`,
      `CREATE TABLE nc_deliveries (
        event_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at BIGINT NOT NULL,
        delivered_at BIGINT,
        last_status INTEGER,
        last_error TEXT,
        lease_until BIGINT,
        PRIMARY KEY (event_id, endpoint)
      )`,
      `CREATE INDEX nc_deliveries_due ON nc_deliveries (delivered_at, next_at)`,
    ],
  },
  {
    version: 2,
    name: 'no state hash for rotation attempts; an orphan repair is a kind, not an error code',
    dialect: {
      sqlite: [
        `CREATE TABLE nc_attempts_v2 (
          id TEXT PRIMARY KEY,
          kind TEXT NOT NULL DEFAULT 'connect',
          tenant TEXT NOT NULL,
          state_hash TEXT UNIQUE,
          environment TEXT NOT NULL,
          return_to TEXT NOT NULL,
          status TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          expires_at BIGINT NOT NULL,
          updated_at BIGINT NOT NULL,
          consumed_at BIGINT,
          connection_id TEXT,
          seller_project TEXT,
          access_token_sealed TEXT,
          token_expires_at BIGINT,
          raw_exchange_sealed TEXT,
          oauth_request_id TEXT,
          key_id TEXT,
          channel_identifier TEXT,
          exchange_sends INTEGER NOT NULL DEFAULT 0,
          error_code TEXT,
          error_detail TEXT
        )`,
        `INSERT INTO nc_attempts_v2 (${ATTEMPT_COLUMNS}) SELECT ${ATTEMPT_COLUMNS} FROM nc_attempts`,
        `DROP TABLE nc_attempts`,
        `ALTER TABLE nc_attempts_v2 RENAME TO nc_attempts`,
        `CREATE INDEX nc_attempts_status ON nc_attempts (status, updated_at)`,
      ],
      postgres: [`ALTER TABLE nc_attempts ALTER COLUMN state_hash DROP NOT NULL`],
    },
    statements: [
      // A rotation attempt carried the hash of a made-up state; no link ever starts one.
      `UPDATE nc_attempts SET state_hash = NULL WHERE kind = 'rotate'`,
      // Version 1 marked an attempt in orphan repair with error_code 'ORPHAN_REPAIR' (over the code that flagged
      // it). A connect attempt in repair is now kind 'repair'; a flagged one keeps why: its repair was cut short.
      `UPDATE nc_attempts SET
         kind = CASE WHEN kind = 'connect' THEN 'repair' ELSE kind END,
         error_code = CASE WHEN status = 'ORPHAN_SUSPECTED' THEN 'INTERRUPTED' ELSE NULL END
       WHERE error_code = 'ORPHAN_REPAIR'`,
      // Codes built by concatenation become one code each, with what varied kept as the detail.
      `UPDATE nc_attempts SET error_code = 'EXCHANGE_FAILED', error_detail = 'status.code ' || substr(error_code, 17)
       WHERE error_code LIKE 'EXCHANGE_STATUS_%'`,
      `UPDATE nc_attempts SET error_code = 'LOGIN_FAILED', error_detail = substr(error_code, 7)
       WHERE error_code LIKE 'LOGIN_%'`,
      `UPDATE nc_attempts SET error_code = 'HTTP_STATUS', error_detail = 'HTTP ' || substr(error_code, 6)
       WHERE error_code LIKE 'HTTP_%'`,
    ],
  },
  {
    version: 3,
    name: 'shared counters and limit windows; resolution of attempts kept for an operator',
    statements: [
      // Every instance counts in the same rows, so limits and single-use links hold across instances and
      // restarts. A row is one named count in one window; `expires_at` says when it may be purged.
      `CREATE TABLE nc_counters (
        name TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        hits BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (name, window_start)
      )`,
      `CREATE INDEX nc_counters_expiry ON nc_counters (expires_at)`,
      // An operator (or the reconciler, once the key is gone upstream) resolves an attempt that kept a key's
      // raw answer; only then is that answer dropped and the attempt left to retention.
      `ALTER TABLE nc_attempts ADD COLUMN resolved_at BIGINT`,
      `ALTER TABLE nc_attempts ADD COLUMN resolution TEXT`,
    ],
  },
  {
    version: 4,
    name: 'admin sessions, per-tenant API tokens, audit log, leases for run-once work',
    statements: [
      // A signed-in dashboard browser: the SHA-256 of its cookie value (never the value), so any instance accepts
      // it, a restart loses none, and signing out revokes it for every instance at once.
      `CREATE TABLE nc_sessions (
        id_hash TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT,
        flash TEXT
      )`,
      `CREATE INDEX nc_sessions_expiry ON nc_sessions (expires_at)`,
      // REST API tokens: the SHA-256 of the token (never the token), its recognisable prefix, and the tenant it
      // is scoped to (NULL: every tenant).
      `CREATE TABLE nc_api_tokens (
        prefix TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        tenant TEXT,
        created_at BIGINT NOT NULL,
        created_by TEXT NOT NULL,
        expires_at BIGINT,
        last_used_at BIGINT,
        revoked_at BIGINT
      )`,
      // Who did what, to which connection, when: metadata only, never a secret.
      `CREATE TABLE nc_audit (
        id TEXT PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        tenant TEXT,
        connection_id TEXT,
        outcome TEXT NOT NULL,
        detail TEXT
      )`,
      `CREATE INDEX nc_audit_at ON nc_audit (at)`,
      // Work one instance should do at a time (reconciler passes, scheduled checks): a named row with an owner
      // and an expiry, taken by compare-and-set.
      `CREATE TABLE nc_leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
    ],
  },
];
