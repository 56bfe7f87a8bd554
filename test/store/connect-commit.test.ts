// The connect's commits on SQLite: the KEY_STORED commit on a store opened by path is flushed (its WAL synced)
// before storeExchangeBody resolves, and is then what another connection reads; the connect commit frees the
// exchange slot the attempt held, in the same transaction as CONNECTED.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSqliteStore, openSqliteDatabase } from '../../src/store/index.js';
import { SQLITE_DRIVER, sqliteFile } from '../helpers/stores.js';

async function storedAttempt(file: string, project: string) {
  const store = await createSqliteStore({ database: file, driver: SQLITE_DRIVER });
  const a = {
    id: randomUUID(),
    tenant: 'tenant-a',
    stateHash: randomUUID(),
    environment: 'sandbox',
    returnTo: '/done',
    createdAt: 1,
    expiresAt: 600_000,
  };
  await store.createAttempt(a);
  await store.claimAttempt(a.stateHash, 2);
  await store.transition(a.id, 'CLAIMED', 'TOKEN_ISSUED', { sellerProject: project }, 3);
  expect(await store.takeExchangeSlot('tenant-a', project, a.id, 3)).toBe(true);
  await store.transition(a.id, 'TOKEN_ISSUED', 'EXCHANGE_SENT', { exchangeSends: 1 }, 4);
  return { store, a };
}

describe('SQLite connect commits', () => {
  it('KEY_STORED is in the WAL file and visible to another connection once storeExchangeBody resolves', async () => {
    const file = sqliteFile();
    const { store, a } = await storedAttempt(file, 'P1');
    const marker = `sealed-body-${randomUUID()}`;
    expect(await store.storeExchangeBody(a.id, marker, 5)).toBe(true);
    expect(readFileSync(`${file}-wal`).includes(Buffer.from(marker))).toBe(true);
    const other = openSqliteDatabase(file, { driver: SQLITE_DRIVER });
    try {
      const rows = other
        .prepare('SELECT status, raw_exchange_sealed FROM nc_attempts WHERE id = ?')
        .all(a.id);
      expect(rows).toEqual([{ status: 'KEY_STORED', raw_exchange_sealed: marker }]);
    } finally {
      other.close();
    }
    // The same answer stored again changes nothing: the attempt is past EXCHANGE_SENT.
    expect(await store.storeExchangeBody(a.id, marker, 6)).toBe(false);
    await store.close();
  });

  it('connect frees the exchange slot the attempt held, with CONNECTED', async () => {
    const { store, a } = await storedAttempt(sqliteFile(), 'P2');
    expect(await store.storeExchangeBody(a.id, 'sealed', 5)).toBe(true);
    expect((await store.getExchangeSlot('tenant-a', 'P2'))?.attemptId).toBe(a.id);
    const r = await store.connect({
      attemptId: a.id,
      connectionId: randomUUID(),
      credential: {
        id: randomUUID(),
        connectionId: '',
        tenant: 'tenant-a',
        sellerProject: 'P2',
        keyId: 'k1',
        channelIdentifier: 'ch1',
        sealed: 'sealed-key-file',
        createdAt: 6,
      },
      userCode: null,
      oauthRequestId: null,
      now: 6,
    });
    expect(r?.connection.status).toBe('active');
    expect((await store.getAttempt(a.id))?.status).toBe('CONNECTED');
    expect(await store.getExchangeSlot('tenant-a', 'P2')).toBeUndefined();
    // A slot another attempt holds for the project is not touched by this attempt's connect.
    expect(await store.takeExchangeSlot('tenant-a', 'P2', 'someone-else', 7)).toBe(true);
    expect((await store.getExchangeSlot('tenant-a', 'P2'))?.attemptId).toBe('someone-else');
    await store.close();
  });
});
