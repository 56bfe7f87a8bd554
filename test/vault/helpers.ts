// Shared pieces of the vault tests: an in-memory metadata store that records writes, contexts and keys.

import { expect } from 'vitest';
import { keygen, type SealContext, VaultError, type VaultMeta } from '../../src/vault/index.js';

/** An in-memory VaultMeta that keeps every write, so a test can assert that nothing was written. */
export class MemoryMeta implements VaultMeta {
  readonly values = new Map<string, string>();
  readonly writes: { name: string; value: string }[] = [];

  async get(name: string): Promise<string | undefined> {
    return this.values.get(name);
  }

  async set(name: string, value: string): Promise<void> {
    this.writes.push({ name, value });
    this.values.set(name, value);
  }
}

export const sellerA: SealContext = {
  tenant: 'tenant-1',
  project: 'PRJ20001',
  credentialId: 'cred-0001',
  purpose: 'seller-private-key',
};

/** Fresh distinct master keys by version name. */
export function keys(...versions: string[]): Record<string, string> {
  return Object.fromEntries(versions.map((v) => [v, keygen()]));
}

/** Runs `fn`, expects a VaultError with `code`, and returns it. */
export async function rejectsWith(fn: () => Promise<unknown> | unknown, code: string): Promise<VaultError> {
  let caught: unknown;
  let result: unknown;
  try {
    result = await fn();
  } catch (err) {
    caught = err;
  }
  expect(result, 'no value may come back from a failed call').toBeUndefined();
  expect(caught).toBeInstanceOf(VaultError);
  expect((caught as VaultError).code).toBe(code);
  return caught as VaultError;
}

/** Everything an error exposes as text: message, stack, own properties and its cause chain. */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof Error) parts.push(e.message, e.stack ?? '');
    parts.push(JSON.stringify(e, Object.getOwnPropertyNames(e)) ?? '');
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}
