// The connect flow end to end against the sandbox: start → consent → callback → stored, encrypted, usable.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../helpers/harness.js';
import { connectThrough } from '../helpers/seller-flow.js';

describe('connect flow', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('connects a seller: 303 to a clean URL, connection active, one credential in the ledger, seller session works', async () => {
    const run = await connectThrough(stack, { projectCode: 'PRJ20001' });
    expect(run.callback.status).toBe(303);
    const loc = run.callback.headers.get('location')!;
    expect(loc).not.toContain('code=');
    expect(loc).not.toContain('state=');
    expect(run.callback.headers.get('referrer-policy')).toBe('no-referrer');
    expect(run.callback.headers.get('cache-control')).toBe('no-store');
    const conns = await stack.connector.listConnections({ tenant: 'tenant-1' });
    expect(conns).toHaveLength(1);
    expect(conns[0]!.sellerProject).toBe('PRJ20001');
    expect(conns[0]!.status).toBe('active');
    const ledger = stack.sb.ledger.entries({ via: 'exchange' });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]!.keyId).toBe(conns[0]!.keyId);
    const session = await stack.connector.sellerSession('tenant-1', 'PRJ20001');
    const items = await session.request('GET', '/catalog/v1/items');
    expect(items.status).toBe(200);
  });
});
