// The names and patterns that must never drift: a sealed value opens only under the exact context it was sealed
// with, and stored rows are read back by these names. Every module that writes or reads them imports them from
// here. (The sandbox keeps its own lists on purpose: it is an independent check of this code.)

import { KEYRING_META_NAME, type SealContext } from '../vault/index.js';

/** What a sealed value holds; part of its AAD, so a value cannot be moved to another purpose. */
export type SealPurpose =
  | 'access-token'
  | 'exchange-body'
  | 'seller-key-file'
  | 'state-mac-key'
  | 'link-mac-key';

/** The vault context of a value that belongs to one attempt or credential of one seller project. */
export function recordContext(
  tenant: string,
  project: string,
  credentialId: string,
  purpose: Extract<SealPurpose, 'access-token' | 'exchange-body' | 'seller-key-file'>,
): SealContext {
  return { tenant, project, credentialId, purpose };
}

/** The connector's state-MAC key, sealed in the meta table under {@link META.stateKey}. */
export const STATE_KEY_CONTEXT: SealContext = Object.freeze({
  tenant: '-',
  project: '-',
  credentialId: 'state-key',
  purpose: 'state-mac-key',
});

/** The service's connect-link signing key, sealed in the meta table under {@link META.linkKey}. */
export const LINK_KEY_CONTEXT: SealContext = Object.freeze({
  tenant: '-',
  project: '-',
  credentialId: 'link-key',
  purpose: 'link-mac-key',
});

/** Names of the rows of the store's meta table. */
export const META = Object.freeze({
  /** The vault's key-version fingerprints, checked at start-up. */
  keyring: KEYRING_META_NAME,
  /** The connector's sealed state-MAC key. */
  stateKey: 'connect.state-key',
  /** The service's sealed connect-link key. */
  linkKey: 'service.link-key',
} as const);

/** A tenant id: what the integrator calls the customer a connection belongs to. */
export const TENANT_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Whether a value is a well-formed tenant id. */
export function isTenant(value: unknown): value is string {
  return typeof value === 'string' && TENANT_PATTERN.test(value);
}

/** Every connection status, in display order: the store's one list (its `ConnectionStatus` is made from it). */
export { CONNECTION_STATUSES } from '../store/types.js';
