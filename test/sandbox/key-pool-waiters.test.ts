// Takers that find the key pool empty: each gets its own key, from the low-priority worker or from the
// normal-priority generation started for waiting takers (so a busy machine cannot starve an exchange), and a
// pool closed while they wait rejects them instead of leaving them hanging.

import { expect, it } from 'vitest';
import { KeyPool } from '../../src/sandbox/key-pool.js';

it('several takers waiting on a cold pool each get a distinct key', async () => {
  const pool = new KeyPool({ size: 1 });
  try {
    const keys = await Promise.all([pool.take(), pool.take(), pool.take()]);
    expect(new Set(keys.map((k) => k.fingerprint)).size).toBe(3);
    for (const k of keys) expect(k.privatePem).toContain('BEGIN RSA PRIVATE KEY');
    expect(pool.stats().generated).toBeGreaterThanOrEqual(3);
  } finally {
    await pool.close();
  }
});

it('a pool closed while takers wait rejects them', async () => {
  const pool = new KeyPool({ size: 1 });
  const waiting = [pool.take(), pool.take(), pool.take()].map((p) =>
    p.then(
      () => 'key',
      (e: Error) => e.message,
    ),
  );
  await pool.close();
  expect(await Promise.all(waiting)).toEqual([
    'key pool is closed',
    'key pool is closed',
    'key pool is closed',
  ]);
});
