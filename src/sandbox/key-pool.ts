// RSA-2048 key pairs for issued credentials, from a pre-generated pool so an exchange never waits ~100 ms for
// key generation. One background worker thread, at the lowest CPU priority it can get, refills the pool; when a
// taker finds the pool empty, a key is also generated at normal priority (libuv's thread pool), since on a busy
// machine the low-priority worker can starve for seconds. An optional cache folder keeps unused keys across runs
// (a cached key file is deleted when its key is issued).

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, unlink, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface KeyPair {
  /** PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), as Noon's example key file shows (NC3). */
  privatePem: string;
  /** SPKI PEM. */
  publicPem: string;
  /** base64url SHA-256 of the DER public key. */
  fingerprint: string;
  /** The public key, imported once here so a login with the issued key does not import its PEM again. */
  publicKey?: KeyObject;
}

export interface KeyPoolOptions {
  size: number;
  cacheDir?: string | undefined;
}

export interface KeyPoolStats {
  ready: number;
  size: number;
  refilling: boolean;
  generated: number;
  fromCache: number;
}

// The worker runs plain JavaScript from a string so it works the same from TypeScript sources and from dist/.
// It lowers its own thread's priority (Linux: setpriority on the thread id read from /proc/thread-self).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { generateKeyPairSync } = require('node:crypto');
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid)) require('node:os').setPriority(tid, 19);
} catch {}
parentPort.on('message', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  parentPort.postMessage({ privatePem: privateKey, publicPem: publicKey });
});
`;

export function fingerprintOf(publicPem: string): string {
  return imported(publicPem).fingerprint;
}

/** The public key imported once, and its fingerprint. */
function imported(publicPem: string): { publicKey: KeyObject; fingerprint: string } {
  const publicKey = createPublicKey(publicPem);
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return { publicKey, fingerprint: createHash('sha256').update(der).digest('base64url') };
}

/** Generates one pair on the calling thread (start-up fixtures only). */
export function generateKeyPairNow(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privatePem: privateKey, publicPem: publicKey, ...imported(publicKey) };
}

interface Pooled extends KeyPair {
  /** The cache file this process claimed for the key, if it came from or went to the cache. */
  file?: string;
}

export class KeyPool {
  readonly #size: number;
  readonly #cacheDir: string | undefined;
  readonly #ready: Pooled[] = [];
  readonly #waiters: { resolve: (k: Pooled) => void; reject: (e: Error) => void }[] = [];
  readonly #fullWaiters: (() => void)[] = [];
  #worker: Worker | undefined;
  #inFlight = false;
  /** Normal-priority generations under way for waiting takers. */
  #urgent = 0;
  #closed = false;
  #generated = 0;
  #held = false;
  #fromCache = 0;

  constructor(options: KeyPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > 10_000) {
      throw new TypeError('key pool size must be an integer from 1 to 10000');
    }
    this.#size = options.size;
    this.#cacheDir = options.cacheDir;
    if (this.#cacheDir) {
      mkdirSync(this.#cacheDir, { recursive: true, mode: 0o700 });
      this.#loadCache();
    }
    this.#refill();
  }

  stats(): KeyPoolStats {
    return {
      ready: this.#ready.length,
      size: this.#size,
      refilling: this.#inFlight,
      generated: this.#generated,
      fromCache: this.#fromCache,
    };
  }

  /**
   * Holds (true) or resumes (false) the background refill, e.g. while a benchmark measures the server's CPU: a
   * taker that finds the pool empty still gets a key generated for it.
   */
  holdRefill(hold: boolean): void {
    this.#held = hold;
    if (!hold) this.#refill();
  }

  /** Takes a key: at once from the pool, or the next one generated. Rejects once the pool is closed. */
  take(): Promise<KeyPair> {
    if (this.#closed) return Promise.reject(new Error('key pool is closed'));
    const k = this.#ready.shift();
    this.#refill();
    if (k) return Promise.resolve(this.#release(k));
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve: (p) => resolve(this.#release(p)), reject });
      // Someone is waiting for this key: keep the process alive until it arrives.
      this.#worker?.ref();
      this.#refill();
      this.#hurry();
    });
  }

  /** One normal-priority generation per waiting taker not yet covered by one. */
  #hurry(): void {
    if (this.#closed || this.#urgent >= this.#waiters.length) return;
    this.#urgent++;
    generateKeyPair(
      'rsa',
      {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      },
      (err, publicPem, privatePem) => {
        this.#urgent--;
        // A failure leaves the taker to the worker, which is still generating for it.
        if (err || this.#closed) return;
        this.#accept({ privatePem, publicPem });
      },
    );
  }

  /** Resolves once the pool is full. */
  whenFull(): Promise<void> {
    if (this.#ready.length >= this.#size) return Promise.resolve();
    return new Promise((resolve) => this.#fullWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    // A key still being generated will never arrive: its takers get an error rather than a promise that hangs.
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error('key pool is closed'));
    if (w) await w.terminate();
    // Unused keys that came from the cache go back to it for the next run.
    for (const k of this.#ready) {
      if (k.file) {
        try {
          renameSync(k.file, k.file.replace(/\.claimed-\d+$/, ''));
        } catch {}
      }
    }
    this.#ready.length = 0;
  }

  #release(k: Pooled): KeyPair {
    // The issued key's cache file goes without blocking the exchange that took it (an unlink can wait on a
    // busy disk); close() and the next start skip a file already gone.
    if (k.file) unlink(k.file, () => {});
    const out: KeyPair = { privatePem: k.privatePem, publicPem: k.publicPem, fingerprint: k.fingerprint };
    if (k.publicKey) out.publicKey = k.publicKey;
    return out;
  }

  #loadCache(): void {
    const dir = this.#cacheDir!;
    for (const name of readdirSync(dir)) {
      if (this.#ready.length >= this.#size) break;
      let file = join(dir, name);
      const claimed = /\.claimed-(\d+)$/.exec(name);
      if (claimed) {
        // A file claimed by a process that is gone goes back to the cache.
        if (isAlive(Number(claimed[1]))) continue;
      } else if (!name.endsWith('.pem')) continue;
      const mine = `${file.replace(/\.claimed-\d+$/, '')}.claimed-${process.pid}`;
      try {
        renameSync(file, mine); // atomic: of two processes sharing the cache only one gets each key
      } catch {
        // Another process claimed it first (or returned it under its plain name): not ours to touch.
        continue;
      }
      file = mine;
      try {
        const privatePem = readFileSync(file, 'utf8');
        const publicPem = createPublicKey(createPrivateKey(privatePem))
          .export({ type: 'spki', format: 'pem' })
          .toString();
        this.#ready.push({ privatePem, publicPem, ...imported(publicPem), file });
        this.#fromCache++;
      } catch {
        try {
          unlinkSync(file);
        } catch {}
      }
    }
  }

  #refill(): void {
    if (this.#closed || this.#inFlight) return;
    if (this.#ready.length >= this.#size && this.#waiters.length === 0) return;
    if (this.#held && this.#waiters.length === 0) return;
    if (!this.#worker) {
      this.#worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
      this.#worker.unref();
      this.#worker.on('message', (m: { privatePem: string; publicPem: string }) => this.#onKey(m));
      this.#worker.on('error', (e) => {
        this.#worker = undefined;
        this.#inFlight = false;
        // Nothing will answer the keys being waited for; the next take() starts a new worker.
        const err = new Error(`key generation failed: ${e instanceof Error ? e.message : 'worker error'}`);
        for (const waiter of this.#waiters.splice(0)) waiter.reject(err);
      });
    }
    this.#inFlight = true;
    if (this.#waiters.length > 0) this.#worker.ref();
    this.#worker.postMessage('gen');
  }

  #onKey(m: { privatePem: string; publicPem: string }): void {
    this.#inFlight = false;
    this.#accept(m);
    this.#refill();
  }

  /** A new key: to the first waiting taker, else into the pool (and the cache). */
  #accept(m: { privatePem: string; publicPem: string }): void {
    this.#generated++;
    const k: Pooled = { ...m, ...imported(m.publicPem) };
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve(k);
    } else {
      if (this.#cacheDir) {
        const file = join(this.#cacheDir, `${k.fingerprint}.pem.claimed-${process.pid}`);
        try {
          writeFileSync(file, k.privatePem, { mode: 0o600 });
          k.file = file;
        } catch {}
      }
      this.#ready.push(k);
    }
    if (this.#waiters.length === 0) this.#worker?.unref();
    if (this.#ready.length >= this.#size) {
      for (const f of this.#fullWaiters.splice(0)) f();
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
