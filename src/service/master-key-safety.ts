// Start-up checks of how the master key is kept: a key that is not random (all zero, a short pattern) and a
// key file others may read are refused before anything is opened, each with what to do instead.

import { statSync } from 'node:fs';
import { decodeMasterKeys } from '../vault/config.js';
import type { ServiceConfig } from './config.js';
import { readMasterKey } from './wiring.js';

/** 32 random bytes show about 30 distinct values; fewer than this is a pattern, not a key. */
const MIN_DISTINCT_BYTES = 16;

/** Whether a key looks random: enough distinct byte values (an all-zero or repeated-pattern key has few). */
export function randomLookingKey(key: Uint8Array): boolean {
  return new Set(key).size >= MIN_DISTINCT_BYTES;
}

/** The problem with the key file's permissions, or undefined (also when it cannot be read: that is said later). */
export function keyFileModeProblem(path: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  return `master key file ${path} is open to group or others (mode ${octal}): run chmod 600 ${path}`;
}

/**
 * Refuses (throws, naming versions and paths, never key material) a master key file others may read, and a
 * master key that is not random. A key in a PKCS#11 token is the token's business.
 */
export async function checkMasterKeySafety(c: ServiceConfig): Promise<void> {
  if (c.masterKeyFile) {
    const problem = keyFileModeProblem(c.masterKeyFile);
    if (problem) throw new Error(problem);
  }
  if (!c.masterKey && !c.masterKeyFile) return;
  let masters: Map<string, Buffer>;
  try {
    masters = decodeMasterKeys(await readMasterKey(c));
  } catch {
    // Unreadable or malformed: the key provider refuses it next, in its own words.
    return;
  }
  const weak = [...masters].filter(([, key]) => !randomLookingKey(key)).map(([version]) => version);
  for (const key of masters.values()) key.fill(0);
  if (weak.length > 0)
    throw new Error(
      `master key version ${weak.join(', ')} is not random (all zero or a repeated pattern): make one with \`noon-connect vault keygen\``,
    );
}
