// H8: no Strict-Transport-Security with an https public URL, and encrypted raw exchange answers on attempts that
// need attention were kept forever. Now every answer carries HSTS when the public URL is https (configurable),
// and a kept answer is dropped once its attempt is resolved (by an operator, or because Noon no longer lists
// its key), never before, after which retention purges the attempt like any other.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, csrfIn } from '../helpers/dashboard-agent.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { connectThrough, freshSeller } from '../helpers/seller-flow.js';
import { rawAnswer } from './reverse-proxy.js';

describe('H8 Strict-Transport-Security', () => {
  const stacks: ServiceStack[] = [];
  afterAll(async () => {
    for (const s of stacks.reverse()) await s.close();
  });

  async function hstsOf(env: Record<string, string>): Promise<(string | undefined)[]> {
    const stack = await startServiceStack({ ...(stacks[0] ? { sandbox: stacks[0].sb } : {}), env });
    stacks.push(stack);
    const out: (string | undefined)[] = [];
    // The service listens on plain http behind a TLS-terminating proxy; every kind of answer is asked for.
    for (const target of ['/healthz', '/sign-in', '/api/connections', '/connect/start', '/nowhere', '//x'])
      out.push((await rawAnswer(stack.service.url, target)).headers['strict-transport-security'] as string);
    return out;
  }

  it('H8 an https public URL puts HSTS on every answer; its max-age is configurable, 0 turns it off; none with http', async () => {
    const https = { NOON_CONNECT_PUBLIC_URL: 'https://connect.example.test' };
    expect(await hstsOf(https)).toEqual(Array(6).fill('max-age=31536000'));
    expect(await hstsOf({ ...https, NOON_CONNECT_HSTS_MAX_AGE: '600' })).toEqual(
      Array(6).fill('max-age=600'),
    );
    expect(await hstsOf({ ...https, NOON_CONNECT_HSTS_MAX_AGE: '0' })).toEqual(Array(6).fill(undefined));
    expect(await hstsOf({})).toEqual(Array(6).fill(undefined));
  });
});

describe('H8 a kept raw exchange answer is dropped only once its attempt is resolved', () => {
  let stack: ServiceStack;

  beforeAll(async () => {
    stack = await startServiceStack();
  });

  afterAll(async () => {
    await stack?.close();
  });

  const DAY = 24 * 60 * 60_000;

  /** A real key whose exchange answer names another project: kept sealed on a NEEDS_ATTENTION attempt. */
  async function keptAnswer(tenant: string): Promise<{ attemptId: string; project: string }> {
    const project = freshSeller(stack.sb).projectCode;
    stack.sb.addFault({
      endpoint: 'token.exchange',
      action: { type: 'mutate', set: { project_code: 'PRJ99998', 'result.project_code': 'PRJ99998' } },
    });
    const run = await connectThrough(stack, {
      startUrl: stack.service.context.links.create({ tenant }).url,
      projectCode: project,
    });
    const attempts = await stack.service.context.store.listAttempts({ tenant });
    expect(attempts).toHaveLength(1);
    expect(run.callback.status).toBe(502);
    const a = attempts[0]!;
    expect(a.status).toBe('NEEDS_ATTENTION');
    expect(a.rawExchangeSealed).toBeTruthy();
    return { attemptId: a.id, project };
  }

  const attempt = (id: string) => stack.service.context.store.getAttempt(id);

  it('H8 kept while its key is live at Noon, past the retention age too; dropped (and later purged) once Noon no longer lists the key', async () => {
    const { attemptId, project } = await keptAnswer('tenant-h8-upstream');
    stack.sb.clock.advance(31 * DAY);
    await stack.service.reconcile();
    expect((await attempt(attemptId))?.rawExchangeSealed).toBeTruthy();
    expect((await attempt(attemptId))?.resolvedAt).toBeNull();

    // The seller's key is removed at Noon (by the seller, or support).
    const issued = stack.sb.ledger.entries({ sellerProject: project, via: 'exchange' });
    expect(issued).toHaveLength(1);
    const key = stack.sb.world.accountKeys(issued[0]!.userCode).find((k) => k.keyId === issued[0]!.keyId)!;
    stack.sb.world.deactivateKey(key, true);
    // The reconciler asks at most hourly about one kept answer.
    stack.sb.clock.advance(61 * 60_000);
    await stack.service.reconcile();
    const resolved = (await attempt(attemptId))!;
    expect(resolved).toMatchObject({
      status: 'NEEDS_ATTENTION',
      rawExchangeSealed: null,
      resolution: 'key-removed',
    });
    // From then on retention treats it like any other ended attempt.
    stack.sb.clock.advance(31 * DAY);
    await stack.service.reconcile();
    expect(await attempt(attemptId)).toBeUndefined();
  });

  it('H8 an operator resolves it on the dashboard: the answer is dropped at once, the attempt leaves the attention list', async () => {
    const { attemptId } = await keptAnswer('tenant-h8-operator');
    const admin = new Agent(stack.url, new SecretSearch());
    const form = await admin.get('/sign-in');
    expect(
      (await admin.post('/sign-in', { csrf: csrfIn(form.text), next: '/', token: stack.adminToken! })).status,
    ).toBe(303);
    const page = await admin.get('/attention');
    expect(page.text).toContain(`/attempts/${attemptId}/resolve`);
    // Without this browser's CSRF token nothing happens.
    expect((await admin.post(`/attempts/${attemptId}/resolve`, { csrf: 'forged' })).status).toBe(403);
    expect((await attempt(attemptId))?.rawExchangeSealed).toBeTruthy();
    const done = await admin.post(`/attempts/${attemptId}/resolve`, { csrf: csrfIn(page.text) });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/attention');
    expect((await admin.get('/attention')).text).not.toContain(`/attempts/${attemptId}/resolve`);
    expect(await attempt(attemptId)).toMatchObject({ rawExchangeSealed: null, resolution: 'operator' });
    const again = await admin.post(`/attempts/${attemptId}/resolve`, { csrf: csrfIn(page.text) });
    expect(again.status).toBe(303);
    expect((await admin.get('/attention')).text).toContain('not waiting for a decision');
  });
});
