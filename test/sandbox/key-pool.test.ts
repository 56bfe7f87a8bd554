// The key pool with its real worker thread: RSA-2048 PKCS#1 keys, distinct; an instant take() from a warm pool; a
// cache folder that makes the next pool warm and loses each key file as its key is issued; an atomic claim so
// pools sharing a cache (in one process or in two) never hand out the same key; close() returning unused keys.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf, type KeyPair, KeyPool } from '../../src/sandbox/key-pool.js';
import { pemLine } from '../helpers/pem.js';
import { waitFor } from '../helpers/wait.js';

const dirs: string[] = [];
let seeds: KeyPair[] = [];
/** Whether the first take() from the full pool in beforeAll had settled before the next turn. */
let warmTakeAtOnce = false;

function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'noon-connect-key-pool-'));
  dirs.push(d);
  return d;
}

/** Puts keys in a cache folder under the names the pool itself uses. */
function seed(dir: string, keys: KeyPair[], suffix = ''): void {
  for (const k of keys)
    writeFileSync(join(dir, `${k.fingerprint}.pem${suffix}`), k.privatePem, { mode: 0o600 });
}

function fileContents(dir: string): string[] {
  return readdirSync(dir).map((n) => readFileSync(join(dir, n), 'utf8'));
}

/** Resolves on the next turn only if `p` had already settled by then. */
async function settledAtOnce<T>(p: Promise<T>): Promise<boolean> {
  let settled = false;
  void p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await null;
  await null;
  return settled;
}

beforeAll(async () => {
  // Keys from the real worker, checked by the first test and used as cache contents by the others (key
  // generation is the slow part, so each test generates only what it is about).
  const pool = new KeyPool({ size: 4 });
  await pool.whenFull();
  const first = pool.take();
  warmTakeAtOnce = await settledAtOnce(first);
  seeds = [await first];
  for (let i = 1; i < 4; i++) seeds.push(await pool.take());
  await pool.close();
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('key pool', () => {
  it('NC3 issues RSA-2048 keys as PKCS#1 PEM, with a matching SPKI public key and fingerprint, all distinct', () => {
    expect(seeds).toHaveLength(4);
    for (const k of seeds) {
      expect(k.privatePem.startsWith(`${pemLine('BEGIN')}\n`)).toBe(true);
      const priv = createPrivateKey(k.privatePem);
      expect(priv.asymmetricKeyType).toBe('rsa');
      expect(priv.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(k.publicPem.startsWith(pemLine('BEGIN', 'PUBLIC KEY'))).toBe(true);
      const derived = createPublicKey(priv).export({ type: 'spki', format: 'pem' }).toString();
      expect(derived).toBe(k.publicPem);
      expect(k.fingerprint).toBe(fingerprintOf(k.publicPem));
    }
    expect(new Set(seeds.map((k) => k.privatePem)).size).toBe(4);
    expect(new Set(seeds.map((k) => k.fingerprint)).size).toBe(4);
  });

  it('take() from a warm pool returns at once; from a cold one it waits for the worker', async () => {
    expect(warmTakeAtOnce).toBe(true);
    const cold = new KeyPool({ size: 1 });
    try {
      const waiting = cold.take();
      expect(await settledAtOnce(waiting)).toBe(false);
      const k = await waiting;
      expect(k.privatePem).toContain('BEGIN RSA PRIVATE KEY');
      expect(cold.stats()).toMatchObject({ generated: 1, fromCache: 0 });
    } finally {
      await cold.close();
    }
  });

  it('a cache folder makes a pool start warm, and a cached key file is deleted when its key is issued', async () => {
    const dir = freshDir();
    seed(dir, seeds.slice(0, 3));
    const pool = new KeyPool({ size: 3, cacheDir: dir });
    try {
      // Loaded while constructing: no worker round trip needed.
      expect(pool.stats()).toMatchObject({ ready: 3, fromCache: 3, generated: 0 });
      expect(readdirSync(dir).every((n) => n.endsWith(`.pem.claimed-${process.pid}`))).toBe(true);
      expect(await settledAtOnce(pool.take())).toBe(true);
      const k = await pool.take();
      expect(seeds.slice(0, 3).map((s) => s.privatePem)).toContain(k.privatePem);
      // Its cache file is removed off the event loop once the key is handed out: gone soon after, never kept.
      await waitFor('the issued key’s cache file removed', () =>
        readdirSync(dir).some((n) => n.startsWith(k.fingerprint)) ? undefined : true,
      );
      expect(fileContents(dir)).not.toContain(k.privatePem);
    } finally {
      await pool.close();
    }
  });

  it('a key claimed by a process that is gone is reclaimed; one claimed by a live process is left alone', async () => {
    const dir = freshDir();
    seed(dir, [seeds[0]!], '.claimed-999999999');
    seed(dir, [seeds[1]!], `.claimed-${process.ppid}`);
    const pool = new KeyPool({ size: 1, cacheDir: dir });
    try {
      expect(pool.stats().fromCache).toBe(1);
      expect((await pool.take()).privatePem).toBe(seeds[0]!.privatePem);
      expect(readdirSync(dir)).toContain(`${seeds[1]!.fingerprint}.pem.claimed-${process.ppid}`);
    } finally {
      await pool.close();
    }
  });

  it('two pools sharing a cache in one process never hand out the same key', async () => {
    const dir = freshDir();
    seed(dir, seeds);
    const a = new KeyPool({ size: 3, cacheDir: dir });
    const b = new KeyPool({ size: 3, cacheDir: dir });
    try {
      expect([a.stats().fromCache, b.stats().fromCache]).toEqual([3, 1]);
      const taken = [await a.take(), await a.take(), await a.take(), await b.take()];
      expect(new Set(taken.map((k) => k.fingerprint)).size).toBe(4);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('two processes racing for one cache claim each cached key exactly once (atomic rename)', async () => {
    const dir = freshDir();
    seed(dir, seeds);
    const script = join(dir, '..', `${dir.split('/').pop()}-child.mjs`);
    dirs.push(script);
    writeFileSync(
      script,
      `import { createInterface } from 'node:readline';
const { KeyPool } = await import(process.env.POOL_MODULE);
process.stdout.write('ready\\n');
for await (const line of createInterface({ input: process.stdin })) if (line === 'go') break;
const pool = new KeyPool({ size: ${seeds.length}, cacheDir: process.env.CACHE_DIR });
const n = pool.stats().fromCache;
const fingerprints = [];
for (let i = 0; i < n; i++) fingerprints.push((await pool.take()).fingerprint);
await pool.close();
process.stdout.write(JSON.stringify({ fingerprints }) + '\\n');
process.exit(0);
`,
    );
    const env = {
      ...process.env,
      POOL_MODULE: pathToFileURL(resolve('src/sandbox/key-pool.ts')).href,
      CACHE_DIR: dir,
    };
    const children: ChildProcessWithoutNullStreams[] = [0, 1].map(() =>
      spawn(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), env }),
    );
    const lines = children.map((c) => {
      let buf = '';
      const seen: string[] = [];
      const waiters: (() => void)[] = [];
      c.stdout.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        let i = buf.indexOf('\n');
        while (i >= 0) {
          seen.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
          i = buf.indexOf('\n');
        }
        for (const w of waiters.splice(0)) w();
      });
      return async (n: number): Promise<string> => {
        while (seen.length < n) await new Promise<void>((r) => waiters.push(r));
        return seen[n - 1]!;
      };
    });
    try {
      expect(await Promise.all(lines.map((l) => l(1)))).toEqual(['ready', 'ready']);
      for (const c of children) c.stdin.write('go\n');
      const results = (await Promise.all(lines.map((l) => l(2)))).map(
        (l) => JSON.parse(l) as { fingerprints: string[] },
      );
      const all = results.flatMap((r) => r.fingerprints);
      expect(all.sort()).toEqual(seeds.map((k) => k.fingerprint).sort());
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill();
    }
  });

  it('close() returns unused keys to the cache (not the issued ones), the next pool loads them, and takers are not left hanging', async () => {
    const dir = freshDir();
    seed(dir, [seeds[0]!]);
    const pool = new KeyPool({ size: 2, cacheDir: dir });
    await pool.whenFull();
    // The cached key and the one the worker generated both wait in the cache under this process's claim.
    expect(pool.stats()).toMatchObject({ fromCache: 1, generated: 1 });
    expect(readdirSync(dir).filter((n) => n.endsWith(`.claimed-${process.pid}`))).toHaveLength(2);
    const issued = await pool.take();
    expect(issued.privatePem).toBe(seeds[0]!.privatePem);
    await pool.close();
    const names = readdirSync(dir);
    expect(names.length).toBeGreaterThanOrEqual(1);
    expect(names.every((n) => n.endsWith('.pem'))).toBe(true);
    expect(fileContents(dir)).not.toContain(issued.privatePem);
    await expect(pool.take()).rejects.toThrow(/closed/);

    const next = new KeyPool({ size: 2, cacheDir: dir });
    try {
      expect(next.stats().fromCache).toBe(names.length);
      const k = await next.take();
      expect(k.privatePem).not.toBe(issued.privatePem);
      expect(names).toContain(`${k.fingerprint}.pem`);
    } finally {
      await next.close();
    }

    const cold = new KeyPool({ size: 1 });
    const pending = expect(cold.take()).rejects.toThrow(/closed/);
    await cold.close();
    await pending;
  });
});
