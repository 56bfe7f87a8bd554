// The connect commit (KEY_STORED → CONNECTED): the attempt ends, the connection is written or switched to the new
// key, the events and the freed exchange slot go in the same transaction.

import type { SqlDriver, SqlExecutor } from './sql-driver.js';
import { insertEvents } from './sql-events.js';
import { connectionFrom, credentialFrom, type Row } from './sql-rows.js';
import type { Connection, Credential, Store } from './types.js';

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
  await insertCredential(tx, connectionId, c);
  return prev[0] ? credentialFrom(prev[0]) : undefined;
}

function insertCredential(
  tx: SqlExecutor,
  connectionId: string,
  c: Omit<Credential, 'state' | 'removedAt'>,
): Promise<number> {
  return tx.run(
    `INSERT INTO nc_credentials (id, connection_id, tenant, seller_project, key_id, channel_identifier, sealed, state, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?)`,
    [c.id, connectionId, c.tenant, c.sellerProject, c.keyId, c.channelIdentifier, c.sealed, c.createdAt],
  );
}

export function connectCommit(
  db: SqlDriver,
  input: Parameters<Store['connect']>[0],
): ReturnType<Store['connect']> {
  const { credential: c, now } = input;
  return db.transaction(
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
        // A new connection: written whole in one statement; it has no earlier key to retire.
        await insertCredential(tx, connectionId, c);
        const row = (
          await tx.all<Row>(
            `INSERT INTO nc_connections (id, tenant, seller_project, status, credential_id, key_id, channel_identifier,
               user_code, oauth_request_id, created_at, updated_at, connected_at)
             VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
            [
              connectionId,
              c.tenant,
              c.sellerProject,
              c.id,
              c.keyId,
              c.channelIdentifier,
              input.userCode ?? null,
              input.oauthRequestId ?? null,
              now,
              now,
              now,
            ],
          )
        )[0]!;
        return connected(tx, input, connectionId, row, undefined);
      }
      if (connectionId !== input.connectionId) {
        await tx.run('UPDATE nc_attempts SET connection_id = ? WHERE id = ?', [
          connectionId,
          input.attemptId,
        ]);
      }
      const previous = await activateCredential(tx, connectionId, c);
      await tx.run(
        `UPDATE nc_connections SET status = 'active', credential_id = ?, key_id = ?, channel_identifier = ?,
           user_code = COALESCE(?, user_code), oauth_request_id = COALESCE(?, oauth_request_id), updated_at = ?,
           connected_at = CASE WHEN connected_at IS NOT NULL AND status = 'active'
             AND (SELECT kind FROM nc_attempts WHERE id = ?) = 'rotate' THEN connected_at ELSE ? END
         WHERE id = ?`,
        [
          c.id,
          c.keyId,
          c.channelIdentifier,
          input.userCode,
          input.oauthRequestId,
          now,
          input.attemptId,
          now,
          connectionId,
        ],
      );
      return connected(tx, input, connectionId, undefined, previous);
    },
    // Not flushed on its own: the key it stores comes from the raw answer the KEY_STORED commit already made
    // durable, and this commit removes that answer in the same transaction. A power loss that takes this
    // commit back leaves KEY_STORED with the answer, which the reconciler finishes (P4); a killed process
    // loses nothing (WAL). The next durable commit flushes it with everything before it.
  );
}

/** The end of a connect commit: its events, the exchange slot freed, the connection as it now is. */
async function connected(
  tx: SqlExecutor,
  input: Parameters<Store['connect']>[0],
  connectionId: string,
  written: Row | undefined,
  previous: Credential | undefined,
): Promise<{ connection: Connection; previous: Credential | undefined }> {
  const c = input.credential;
  await insertEvents(
    tx,
    input.events?.map((e) => ({ ...e, connectionId })),
  );
  // The attempt has ended: the exchange slot it held for this seller project goes in the same commit.
  await tx.run('DELETE FROM nc_exchange_slots WHERE tenant = ? AND seller_project = ? AND attempt_id = ?', [
    c.tenant,
    c.sellerProject,
    input.attemptId,
  ]);
  const row = written ?? (await tx.all<Row>('SELECT * FROM nc_connections WHERE id = ?', [connectionId]))[0]!;
  return { connection: connectionFrom(row), previous };
}
