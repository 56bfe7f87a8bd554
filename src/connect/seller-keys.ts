// Sellers' private keys in a signing-key store (opt-in, e.g. a PKCS#11 token): the label each key gets there, the
// import that proves the store signs with that very key, the key file stored without its private key, and the
// credentials that sign a seller's logins in the store.

import { createHash, randomBytes, verify } from 'node:crypto';
import { type KeyFile, NoonCredentials, parseCredentials } from '../client/index.js';
import type { SigningKeyStore } from '../vault/index.js';
import { ConnectError } from './errors.js';

/** Token labels are at most 127 bytes; Noon's key ids are far shorter, a longer one is named by its hash. */
const MAX_LABEL_BYTES = 127;

/** The label of a seller key in the signing-key store: `nc-seller-<key_id>`. */
export function sellerKeyLabel(keyId: string): string {
  const label = `nc-seller-${keyId}`;
  if (Buffer.byteLength(label) <= MAX_LABEL_BYTES) return label;
  return `nc-seller-sha256-${createHash('sha256').update(keyId).digest('base64url')}`;
}

/**
 * Imports the key file's private key into the store under its label (a second import of the same key is a
 * no-op, so a retry after a crash is safe), then has the store sign a random probe and checks it with the key's
 * public half: only a store that signs with this very key passes. Any failure is the store's, not the key's.
 */
export async function importSellerKey(keys: SigningKeyStore, keyFile: KeyFile): Promise<void> {
  const label = sellerKeyLabel(keyFile.key_id);
  const publicKey = await keys.importKey(label, keyFile.private_key);
  const probe = randomBytes(32);
  if (!verify('sha256', probe, publicKey, await keys.sign(label, probe)))
    throw new ConnectError(
      'UNAVAILABLE',
      `the signing-key store's key "${label}" does not sign as the seller's key does`,
    );
}

/**
 * The seller key file as the store keeps it: whole, or, with the key in a signing-key store, every field but
 * `private_key` (the store keeps no copy of the key then).
 */
export function storedKeyFile(keyFile: KeyFile, inStore: boolean): string {
  if (!inStore) return JSON.stringify(keyFile);
  const { private_key: _inTheStore, ...metadata } = keyFile;
  return JSON.stringify(metadata);
}

/** Credentials that sign the seller's logins in the store, under the key's label. */
export function storeCredentials(keys: SigningKeyStore, file: Omit<KeyFile, 'private_key'>): NoonCredentials {
  const label = sellerKeyLabel(file.key_id);
  return NoonCredentials.fromSigner(file, (data) => keys.sign(label, data));
}

/**
 * Credentials from a stored key file: with its private key when it has one, else signing in the store (a key
 * file without a private key was stored by a connector configured with one).
 */
export function credentialsOf(text: string, keys: SigningKeyStore | undefined): NoonCredentials {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    // The parser's message would quote the text: let the credentials check say what is wrong, safely.
    return parseCredentials(text);
  }
  if (typeof (file as { private_key?: unknown })?.private_key === 'string')
    return parseCredentials(file as KeyFile);
  if (!keys)
    throw new ConnectError(
      'CONFIG',
      "this seller's key is held in a signing-key store, but the connector has none (signingKeys)",
    );
  return storeCredentials(keys, file as Omit<KeyFile, 'private_key'>);
}

/**
 * Credentials that hold their private key only until their first signature, then load it again for each later
 * one (`load`: read, decrypt and import the stored key file; the first signature with a freshly imported key costs
 * ~0.3 ms more than a later one). For a cached seller
 * session, which signs once per login: an idle session keeps no private key in memory (RSA key material costs
 * ~7 KB of native memory a key, and is one secret fewer in a heap dump). Credentials that already sign elsewhere
 * are returned as they are.
 */
export function keyOnlyWhileSigning(
  first: NoonCredentials,
  load: () => Promise<NoonCredentials>,
): NoonCredentials {
  if (first.signsElsewhere) return first;
  let held: NoonCredentials | undefined = first;
  const metadata = {
    key_id: first.keyId,
    channel_identifier: first.channelIdentifier,
    project_code: first.projectCode,
    type: first.type,
    issued_at: first.issuedAt,
  };
  return NoonCredentials.fromSigner(metadata, async (data) => {
    const credentials = held ?? (await load());
    held = undefined;
    if (credentials.keyId !== metadata.key_id)
      throw new ConnectError('CONNECTION_NOT_FOUND', "the stored key is no longer this session's key");
    return credentials.signRs256(Buffer.from(data));
  });
}
