// Versioned schema migrations, applied at start under a cross-process lock (see SqlDriver.migrationLock).

export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

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
];
