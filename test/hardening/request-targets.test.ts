// H5: `//` request targets were parsed as host + path, so a front proxy that exposes only `/connect/` forwarded
// `//connect/api/connections` to the API (and `/connect/%2e%2e/api/…`, which URL parsing folds into `/api/…`).
// Now a target that is not a plain absolute path is refused with 400 by the service and by every adapter.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartParams } from '../../src/http/index.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { ADAPTER_TARGETS } from '../helpers/adapters.js';
import { type ServiceStack, type Stack, startServiceStack, startStack } from '../helpers/harness.js';
import { startSandbox } from '../helpers/sandbox.js';
import { type ReverseProxy, rawAnswer, reverseProxy } from './reverse-proxy.js';

/** Targets that are not a plain absolute path, each of which URL parsing turns into another path. */
const CROOKED = (base: string, rest: string) => [
  `//${base.slice(1)}${rest}`,
  `/\\${base.slice(1)}${rest}`,
  `${base}/%2e%2e${rest}`,
  `${base}/..${rest}`,
  `${base}/.%2E/${rest.slice(1)}`,
];

describe('H5 behind a front proxy that exposes only /connect/', () => {
  let stack: ServiceStack;
  let front: ReverseProxy;

  beforeAll(async () => {
    stack = await startServiceStack();
    front = await reverseProxy(stack.url, { only: '/connect/' });
  });

  afterAll(async () => {
    await front?.close();
    await stack?.close();
  });

  it('H5 //connect/api/… and /connect/<dot segments>/api/… are forwarded by the proxy and refused 400 by the service', async () => {
    const bearer = { authorization: `Bearer ${stack.apiToken}` };
    for (const target of [
      '//connect/api/connections',
      '//connect/api/openapi.json',
      '//connect/sign-in',
      '/connect/%2e%2e/api/openapi.json',
      '/connect/.%2e/api/connections',
      '/connect/..\\api/openapi.json',
    ]) {
      const before = front.forwarded.length;
      const r = await rawAnswer(front.origin, target, { headers: bearer });
      expect(front.forwarded.length, target).toBe(before + 1);
      expect(r.status, target).toBe(400);
      expect(r.text, target).not.toContain('connections');
      expect(r.text, target).not.toContain('openapi');
    }
    // What the proxy is there for still works through it.
    const link = stack.service.context.links.create({ tenant: 'tenant-h5' });
    const started = await rawAnswer(front.origin, new URL(link.url).pathname + new URL(link.url).search);
    expect(started.status).toBe(303);
    // And the service itself answers the same to any client.
    for (const target of CROOKED('/api', '/connections'))
      expect((await rawAnswer(stack.url, target, { headers: bearer })).status, target).toBe(400);
  });
});

/** The test stacks' start rule: the tenant from the query (tests only). */
function startFromQuery(req: Request): StartParams {
  return { tenant: new URL(req.url).searchParams.get('tenant') ?? 'missing' };
}

describe('H5 every adapter refuses request targets that are not a plain absolute path', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox();
  });
  afterAll(async () => {
    await sb?.close();
  });

  for (const target of ADAPTER_TARGETS) {
    describe(target.name, () => {
      let stack: Stack;
      beforeAll(async () => {
        stack = await startStack({ target, sandbox: sb, authorizeStart: startFromQuery });
      });
      afterAll(async () => {
        await stack?.close();
      });

      it(`H5 ${target.name}: //connect/start, /\\connect/start and dot segments start nothing`, async () => {
        const tenant = `tenant-h5-${target.name}`;
        for (const t of CROOKED('/connect', `/start?tenant=${tenant}`)) {
          const r = await rawAnswer(stack.origin, t);
          // The framework's own router may not match such a path at all (404); whoever answers, nothing starts.
          expect([400, 404], `${t} → ${r.status}`).toContain(r.status);
          expect(r.headers.location, t).toBeUndefined();
          expect(String(r.headers['set-cookie'] ?? ''), t).not.toContain('nc_bind');
        }
        expect(await stack.rawStore.listAttempts({ tenant })).toEqual([]);
        // The adapters' own code answers 400 wherever the request reaches it.
        expect((await rawAnswer(stack.origin, `/connect/%2e%2e/connect/start?tenant=${tenant}`)).status).toBe(
          400,
        );
        // A plain target still starts.
        expect((await rawAnswer(stack.origin, `/connect/start?tenant=${tenant}`)).status).toBe(303);
      });
    });
  }
});
