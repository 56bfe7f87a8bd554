// What the dashboard's forms do: start a connect flow for a tenant or a reconnect for a connection, and test,
// rotate or disconnect a connection. Each answers with a redirect: to noon's consent page (through a signed
// connect link), or back to the connection's page with the outcome shown once.

import { ConnectError } from '../../connect/index.js';
import { TENANT_PATTERN } from '../../connect/invariants.js';
import type { Connection } from '../../store/index.js';
import { sessionActor } from './auth.js';
import type { Visit } from './context.js';
import type { Flash } from './html.js';
import { connectionNotFound } from './screens.js';

function errorCodeOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.name : 'error';
}

export async function connectSeller(v: Visit): Promise<Response> {
  const { ctx } = v.d;
  const tenant = (v.form.get('tenant') ?? '').trim();
  if (!TENANT_PATTERN.test(tenant)) {
    return v.back('/', {
      tone: 'bad',
      text: `“${tenant.slice(0, 140)}” is not a tenant name: use 1 to 128 letters, digits and . _ : @ -`,
    });
  }
  const link = ctx.links.create({ tenant, ...(v.d.returnTo ? { returnTo: v.d.returnTo } : {}) });
  ctx.logger.info({ dashboard: 'connect-seller', tenant }, 'dashboard: connect link created');
  await ctx.audit({ actor: sessionActor(v.cookie), action: 'connect-link', tenant, outcome: 'ok' });
  return v.d.redirect(link.url, v.cookies);
}

export async function reconnect(v: Visit, c: Connection): Promise<Response> {
  const { ctx } = v.d;
  const link = ctx.links.create({
    tenant: c.tenant,
    connectionId: c.id,
    ...(v.d.returnTo ? { returnTo: v.d.returnTo } : {}),
  });
  ctx.logger.info({ dashboard: 'reconnect', connectionId: c.id }, 'dashboard: reconnect link created');
  await ctx.audit({
    actor: sessionActor(v.cookie),
    action: 'reconnect-link',
    tenant: c.tenant,
    connectionId: c.id,
    outcome: 'ok',
  });
  return v.d.redirect(link.url, v.cookies);
}

/** Runs a connection action and turns its outcome into a flash message. */
async function act(
  v: Visit,
  what: string,
  id: string,
  run: () => Promise<string | Flash>,
): Promise<{ flash: Flash } | { missing: true }> {
  const { logger } = v.d.ctx;
  try {
    const result = await run();
    logger.info({ dashboard: what, connectionId: id }, `dashboard: ${what}`);
    return { flash: typeof result === 'string' ? { tone: 'ok', text: result } : result };
  } catch (e) {
    if (e instanceof ConnectError && e.code === 'CONNECTION_NOT_FOUND') return { missing: true };
    const code = errorCodeOf(e);
    logger.warn({ dashboard: what, connectionId: id, code }, `dashboard: ${what} failed`);
    const why = e instanceof ConnectError ? e.message : `noon or the store answered ${code}`;
    return { flash: { tone: 'bad', text: `${what} failed: ${why} (${code}).` } };
  }
}

/** Test, rotate or disconnect (POST), then back to the connection's page. */
export async function connectionAction(
  v: Visit,
  c: Connection,
  action: 'test' | 'rotate' | 'disconnect',
): Promise<Response> {
  const { connector } = v.d.ctx;
  const id = c.id;
  let outcome: Awaited<ReturnType<typeof act>>;
  if (action === 'test') {
    outcome = await act(v, 'Test connection', id, async () => {
      const r = await connector.healthCheck(id);
      return r.ok
        ? `Connection works: ${r.detail}.`
        : { tone: 'bad', text: `Test connection failed: ${r.detail}.` };
    });
  } else if (action === 'rotate') {
    outcome = await act(v, 'Rotate key', id, async () => {
      const view = await connector.rotate(id);
      return `Key rotated: now using key ${view.keyId ?? '?'}; the previous key is removed on noon.`;
    });
  } else {
    outcome = await act(v, 'Disconnect', id, async () => {
      await connector.disconnect(id);
      return `Disconnected ${c.sellerProject} (tenant ${c.tenant}); its keys were removed on noon.`;
    });
  }
  await v.d.ctx.audit({
    actor: sessionActor(v.cookie),
    action: action === 'test' ? 'health-check' : action,
    tenant: c.tenant,
    connectionId: id,
    outcome: 'missing' in outcome ? 'not_found' : outcome.flash.tone === 'ok' ? 'ok' : 'failed',
  });
  if ('missing' in outcome) return connectionNotFound(v);
  return v.back(`/connections/${encodeURIComponent(id)}`, outcome.flash);
}

/**
 * An operator's decision on an attempt that kept a key's raw answer (NEEDS_ATTENTION): the answer is dropped and
 * the attempt left to retention. Until then the answer stays, as it may be the only copy of a live key.
 */
export async function resolveKeptAnswer(v: Visit, attemptId: string): Promise<Response> {
  const { store, logger } = v.d.ctx;
  const resolved = await store.resolveAttempt(attemptId, 'operator', v.d.ctx.now());
  if (resolved)
    logger.info({ dashboard: 'resolve', attemptId }, 'dashboard: kept answer resolved and dropped');
  await v.d.ctx.audit({
    actor: sessionActor(v.cookie),
    action: 'resolve-attempt',
    outcome: resolved ? 'ok' : 'not_waiting',
    detail: `attempt ${attemptId}`,
  });
  return v.back(
    '/attention',
    resolved
      ? {
          tone: 'ok',
          text: 'Resolved: the key answer kept with this attempt was dropped; the attempt is left to retention.',
        }
      : { tone: 'bad', text: 'That attempt is not waiting for a decision (it is resolved, or gone).' },
  );
}
