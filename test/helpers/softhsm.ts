// A real PKCS#11 token for tests: SoftHSM2 with its tokens in a temporary folder, initialised by softhsm2-util.
// Tests skip (with one line saying why) when SoftHSM2 or the koffi binding is missing, except under CI=true,
// where CI installs both and a missing one is a failure.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Attribute } from '../../src/vault/pkcs11/binding.js';
import { CKA, CKK_AES, CKM_AES_KEY_GEN, CKO_SECRET_KEY } from '../../src/vault/pkcs11/constants.js';
import { MASTER_KEY_FLAGS } from '../../src/vault/pkcs11/provider.js';
import { keyTemplate, type Pkcs11Token } from '../../src/vault/pkcs11/token.js';

/** Where Debian, Ubuntu, Fedora, Homebrew and a source build put the module. */
const MODULE_PATHS = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
];

export const SO_PIN = '87654321';
export const USER_PIN = '246810';

/** Why the PKCS#11 tests cannot run here, or undefined when they can. */
export function softhsmMissing(): string | undefined {
  if (!findModule()) return 'the SoftHSM2 module is not installed (apt-get install softhsm2)';
  if (spawnSync('softhsm2-util', ['--version']).status !== 0) return 'softhsm2-util is not on PATH';
  try {
    createRequire(import.meta.url).resolve('koffi');
  } catch {
    return 'the optional koffi binding is not installed (npm install koffi)';
  }
  return undefined;
}

function findModule(): string | undefined {
  const configured = process.env.NOON_CONNECT_TEST_PKCS11_MODULE;
  return (configured ? [configured] : MODULE_PATHS).find((p) => existsSync(p));
}

/**
 * The one line a skipped PKCS#11 suite prints; under CI a missing token is an error instead, so CI can never pass
 * by skipping.
 */
export function pkcs11SkipReason(): string | undefined {
  const missing = softhsmMissing();
  if (missing && process.env.CI === 'true') throw new Error(`PKCS#11 tests cannot run under CI: ${missing}`);
  if (missing) process.stdout.write(`PKCS#11 tests skipped: ${missing}\n`);
  return missing;
}

/**
 * A SoftHSM2 installation of its own: a config file and a token folder under a temporary directory. SoftHSM2
 * reads SOFTHSM2_CONF when the module is initialised, so create every token before the first provider opens
 * (or after every provider was closed: the module is finalised when the last one closes).
 */
export class SoftHsm {
  readonly module: string;
  readonly dir: string;
  readonly conf: string;
  readonly tokens: string;

  private constructor(module: string, dir: string) {
    this.module = module;
    this.dir = dir;
    this.conf = join(dir, 'softhsm2.conf');
    this.tokens = join(dir, 'tokens');
  }

  static async create(): Promise<SoftHsm> {
    const module = findModule();
    if (!module) throw new Error('SoftHSM2 is not installed');
    const hsm = new SoftHsm(module, await mkdtemp(join(tmpdir(), 'noon-connect-softhsm-')));
    await writeFile(
      hsm.conf,
      `directories.tokendir = ${hsm.tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
    );
    await mkdir(hsm.tokens);
    process.env.SOFTHSM2_CONF = hsm.conf;
    return hsm;
  }

  /** Initialises a token labelled `label` with the test PINs. */
  initToken(label: string, pin = USER_PIN): void {
    const r = spawnSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', pin],
      { env: { ...process.env, SOFTHSM2_CONF: this.conf }, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${r.stderr || r.stdout}`);
  }

  /** The folder SoftHSM2 keeps a token in (one folder per token, named by its UUID). */
  async tokenDir(label: string): Promise<string> {
    for (const entry of await readdir(this.tokens)) {
      const dir = join(this.tokens, entry);
      const object = await readFile(join(dir, 'token.object')).catch(() => undefined);
      if (object?.includes(Buffer.from(label.padEnd(32, ' ')))) return dir;
    }
    throw new Error(`no SoftHSM2 token labelled ${label}`);
  }

  /** Writes a PIN file (mode 0600) and returns its path. */
  async pinFile(pin = USER_PIN, name = 'pin'): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, `${pin}\n`, { mode: 0o600 });
    return path;
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Creates an AES key object through a raw session, for keys the provider itself would never make: `flags`
 * override those of a valid master key (a modifiable one by default, so a test can change it later).
 */
export function makeAesKey(
  t: Pkcs11Token,
  label: string,
  flags: Record<number, boolean> = {},
  bytes = 32,
): void {
  const c = t.cryptoki;
  const all = { ...MASTER_KEY_FLAGS, [CKA.MODIFIABLE]: true, ...flags };
  t.run('making a test key', (s) =>
    c.generateKey(
      s,
      CKM_AES_KEY_GEN,
      keyTemplate(c, CKO_SECRET_KEY, CKK_AES, label, all, [{ type: CKA.VALUE_LEN, value: c.ulong(bytes) }]),
    ),
  );
}

/** Reads attributes of the key of `cls` labelled `label` into their buffers; -1 marks one the token refused. */
export function readAttributes(t: Pkcs11Token, cls: number, label: string, attrs: Attribute[]): number[] {
  return t.run('reading attributes', (s) => t.cryptoki.getAttributes(s, t.key(s, cls, label), attrs));
}
