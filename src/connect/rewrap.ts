// Master-key rotation for the connector's data: re-wraps every sealed value under the vault's current key
// version without exposing a plaintext (only the data keys are re-wrapped), with a compare-and-set per value
// so a concurrent writer is never overwritten. Run it after making a new master-key version current; when it
// reports nothing left, the old version can be retired.

import type { SealedValue, Store } from '../store/index.js';
import type { SealContext, Vault } from '../vault/index.js';
import { usageError } from './errors.js';
import { LINK_KEY_CONTEXT, META, recordContext, STATE_KEY_CONTEXT } from './invariants.js';

/** The vault context a stored sealed value was written with: without it, it cannot be re-wrapped or opened. */
export function sealContextOf(v: SealedValue): SealContext {
  switch (v.column) {
    case 'attempt.access_token':
      return recordContext(v.tenant!, v.sellerProject!, v.id, 'access-token');
    case 'attempt.raw_exchange':
      return recordContext(v.tenant!, v.sellerProject!, v.id, 'exchange-body');
    case 'credential.sealed':
      return recordContext(v.tenant!, v.sellerProject!, v.id, 'seller-key-file');
    case 'meta':
      if (v.id === META.stateKey) return STATE_KEY_CONTEXT;
      // The service's connect-link signing key lives in the same store.
      if (v.id === META.linkKey) return LINK_KEY_CONTEXT;
      throw usageError(`no known vault context for meta ${v.id}`);
  }
}

/** What {@link rewrapAll} did. */
export interface RewrapReport {
  examined: number;
  rewrapped: number;
  /** Values changed by someone else between read and write; a second run picks them up. */
  raced: number;
  /** Values still sealed under another version after this run. */
  remaining: number;
}

/**
 * Re-wraps every sealed value the store holds under the vault's current key version, in pages of `batch`.
 * Safe beside a running connector: each value is replaced only if it is still the one read.
 */
export async function rewrapAll(store: Store, vault: Vault, batch = 200): Promise<RewrapReport> {
  const report: RewrapReport = { examined: 0, rewrapped: 0, raced: 0, remaining: 0 };
  let after: string | undefined;
  for (;;) {
    const page = await store.listSealedValues({ ...(after !== undefined ? { after } : {}), limit: batch });
    if (page.length === 0) break;
    for (const v of page) {
      report.examined++;
      if (!vault.needsRewrap(v.sealed)) continue;
      const next = await vault.rewrap(v.sealed, sealContextOf(v));
      if (await store.replaceSealed(v, v.sealed, next)) report.rewrapped++;
      else report.raced++;
    }
    after = page[page.length - 1]!.key;
  }
  // Count what still needs the old version (raced values, or values written meanwhile under it).
  after = undefined;
  for (;;) {
    const page = await store.listSealedValues({ ...(after !== undefined ? { after } : {}), limit: batch });
    if (page.length === 0) break;
    for (const v of page) if (vault.needsRewrap(v.sealed)) report.remaining++;
    after = page[page.length - 1]!.key;
  }
  return report;
}
