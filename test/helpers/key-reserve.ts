// Keys reserved for one sandbox, so a test that needs a full key pool has it at once on any machine: the pool's
// own worker generates one key at a time at the lowest CPU priority, so on a busy machine with a cold cache it
// may barely run. Keys are claimed from the shared cache folder by the atomic rename the pool itself uses, the
// shortfall is generated here on libuv's threads at normal priority, and all of them wait in a folder of this
// reservation's own that no other process reads. Unused keys go back to the shared cache on release (or, after
// a crash, with the next reservation).

import { createHash, createPublicKey, generateKeyPair } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The key cache every test sandbox shares (documented sandbox option `keyCacheDir`). */
export const KEY_CACHE_DIR = join(process.cwd(), 'node_modules', '.cache', 'noon-connect', 'sandbox-keys');
/** Reservations live beside the cache, on the same file system, so keys move by rename. */
const RESERVED_ROOT = join(KEY_CACHE_DIR, '..', 'reserved-keys');

const generate = promisify(generateKeyPair);

export interface KeyReservation {
  /** A key cache folder holding exactly the reserved keys: pass it as the sandbox's `keyCacheDir`. */
  dir: string;
  /** How many keys came from the shared cache and how many were generated for this reservation. */
  claimed: number;
  generated: number;
  /** Moves the keys still unused back to the shared cache and removes the folder. Safe to call twice. */
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Cache files under the plain name the pool reads (`*.pem`), with any claim suffix of a pool dropped. */
function returnKeys(from: string): void {
  for (const name of readdirSync(from)) {
    const plain = name.replace(/\.claimed-\d+$/, '');
    if (!plain.endsWith('.pem')) continue;
    try {
      renameSync(join(from, name), join(KEY_CACHE_DIR, plain));
    } catch {}
  }
  rmSync(from, { recursive: true, force: true });
}

/** Reservations left behind by processes that are gone give their keys back. */
function sweepAbandoned(): void {
  for (const name of readdirSync(RESERVED_ROOT)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && !isAlive(pid)) returnKeys(join(RESERVED_ROOT, name));
  }
}

/** One new key file in `dir`, named as the pool names its own; written aside first, so no pool reads half a key. */
async function newKeyFile(dir: string): Promise<void> {
  const { privateKey, publicKey } = await generate('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const der = createPublicKey(publicKey).export({ type: 'spki', format: 'der' });
  const name = `${createHash('sha256').update(der).digest('base64url')}.pem`;
  writeFileSync(join(dir, `${name}.new`), privateKey, { mode: 0o600 });
  renameSync(join(dir, `${name}.new`), join(dir, name));
}

function cachedKeys(): number {
  return readdirSync(KEY_CACHE_DIR).filter((n) => n.endsWith('.pem')).length;
}

/**
 * Tops the shared cache up to `count` keys, generating the missing ones here. A test file that needs many keys
 * does this in a hook of its own, so the time key generation takes on a cold cache and a busy machine is not
 * counted against the test; the test's own reservation then finds them ready (and makes up any that other
 * processes took in between).
 */
export async function warmKeyCache(count: number): Promise<void> {
  mkdirSync(KEY_CACHE_DIR, { recursive: true, mode: 0o700 });
  mkdirSync(RESERVED_ROOT, { recursive: true, mode: 0o700 });
  sweepAbandoned();
  const missing = count - cachedKeys();
  await Promise.all(Array.from({ length: Math.max(0, missing) }, () => newKeyFile(KEY_CACHE_DIR)));
}

/** Reserves `count` RSA-2048 keys in a folder of their own. */
export async function reserveKeys(count: number): Promise<KeyReservation> {
  mkdirSync(KEY_CACHE_DIR, { recursive: true, mode: 0o700 });
  mkdirSync(RESERVED_ROOT, { recursive: true, mode: 0o700 });
  sweepAbandoned();
  const dir = join(RESERVED_ROOT, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { mode: 0o700 });
  let claimed = 0;
  for (const name of readdirSync(KEY_CACHE_DIR)) {
    if (claimed >= count) break;
    if (!name.endsWith('.pem')) continue;
    try {
      // Atomic: of the processes sharing the cache only one gets each key (a pool claims the same way).
      renameSync(join(KEY_CACHE_DIR, name), join(dir, name));
      claimed++;
    } catch {}
  }
  const generated = count - claimed;
  await Promise.all(Array.from({ length: generated }, () => newKeyFile(dir)));
  let released = false;
  return {
    dir,
    claimed,
    generated,
    release() {
      if (released) return;
      released = true;
      returnKeys(dir);
    },
  };
}
