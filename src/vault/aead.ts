// AES-256-GCM with a full 16-byte tag: the one cipher the vault uses, for payloads and for wrapping data keys.

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { VaultError } from './errors.js';

const ALGORITHM = 'aes-256-gcm';
const TAG_BYTES = 16;

export interface Sealed {
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

export function gcmEncrypt(key: Buffer, iv: Buffer, plaintext: Uint8Array, aad: Buffer): Sealed {
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

/**
 * Decrypts and authenticates. `authTagLength` is passed so Node refuses a tag of any other length: without it
 * the decipher accepts tags as short as 4 bytes. The output of `update` is plaintext that is not yet
 * authenticated, so it is wiped and dropped unless `final` succeeds: a failure never yields partial plaintext.
 */
export function gcmDecrypt(key: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  let unverified: Buffer | undefined;
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    unverified = decipher.update(ciphertext);
    const rest = decipher.final();
    const plaintext = rest.length === 0 ? unverified : Buffer.concat([unverified, rest]);
    unverified = undefined;
    return plaintext;
  } catch {
    // The cause is dropped on purpose: the caller learns only that authentication failed.
    unverified?.fill(0);
    throw new VaultError(
      'VAULT_DECRYPT_FAILED',
      'decryption failed: the value was altered or the context differs',
    );
  }
}
