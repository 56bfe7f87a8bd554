// Master-key rotation for the connector's data: re-wraps every sealed value under the vault's current key
// version without exposing a plaintext (only the data keys are re-wrapped), with a compare-and-set per value
// so a concurrent writer is never overwritten. Run it after making a new master-key version current; when it
// reports nothing left, the old version can be retired.

import type { SealedValue, Store } from '../store/index.js';
import type { SealContext, Vault } from '../vault/index.js';

/** The vault context each kind of sealed value was written with (see connector.ts). */
export function sealContextOf(v: SealedValue): SealContext {
  switch (v.column) {
    case 'attempt.access_token':
      return { tenant: v.tenant!, project: v.sellerProject!, credentialId: v.id, purpose: 'access-token' };
    case 'attempt.raw_exchange':
      return { tenant: v.tenant!, project: v.sellerProject!, credentialId: v.id, purpose: 'exchange-body' };
    case 'credential.sealed':
      return { tenant: v.tenant!, project: v.sellerProject!, credentialId: v.id, purpose: 'seller-key-file' };
    case 'meta':
      if (v.id === 'connect.state-key')
        return { tenant: '-', project: '-', credentialId: 'state-key', purpose: 'state-mac-key' };
      // The service's connect-link signing key (src/service/links.ts) lives in the same store.
      if (v.id === 'service.link-key')
        return { tenant: '-', project: '-', credentialId: 'link-key', purpose: 'link-mac-key' };
      throw new TypeError(`no known vault context for meta ${v.id}`);
  }
}

export interface RewrapReport {
  examined: number;
  rewrapped: number;
  /** Values changed by someone else between read and write; a second run picks them up. */
  raced: number;
  /** Values still sealed under another version after this run. */
  remaining: number;
}

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
