// The dashboard's pages that only read: each loads its records from the store and renders its body.

import type { Connection } from '../../store/index.js';
import { retentionReport } from '../retention.js';
import type { Visit } from './context.js';
import type { Flash } from './html.js';
import {
  ATTEMPT_FILTERS,
  ATTENTION_STATUSES,
  attemptsBody,
  attentionBody,
  connectionBody,
  connectionsBody,
  disconnectBody,
  eventsBody,
  messageBody,
} from './pages.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The outcome of the connect flow the browser comes back from (`?connect_attempt=`), shown once. */
async function connectFlash(v: Visit): Promise<Flash | undefined> {
  const id = v.url.searchParams.get('connect_attempt');
  if (!id || !UUID.test(id)) return undefined;
  const a = await v.d.ctx.store.getAttempt(id);
  if (!a) return undefined;
  if (a.status === 'CONNECTED' || a.status === 'REPAIRED')
    return {
      tone: 'ok',
      text: `Seller connected: project ${a.sellerProject ?? '?'} for tenant ${a.tenant}.`,
    };
  return {
    tone: 'info',
    text: `The connect attempt for tenant ${a.tenant} is ${a.status.toLowerCase().replace(/_/g, ' ')}.`,
  };
}

export async function homePage(v: Visit): Promise<Response> {
  const flash = v.d.auth.takeFlash(v.cookie) ?? (await connectFlash(v));
  const connections = (await v.d.ctx.store.listConnections()).sort(
    (a, b) => (b.connectedAt ?? b.createdAt) - (a.connectedAt ?? a.createdAt),
  );
  const attention = await v.d.attentionCount();
  return v.full(200, {
    title: 'Connections',
    nav: 'connections',
    attention,
    flash,
    body: connectionsBody({ connections, attention, csrf: v.csrf, now: v.now }),
  });
}

export async function attemptsPage(v: Visit): Promise<Response> {
  const key = v.url.searchParams.get('state') ?? 'all';
  const filter = ATTEMPT_FILTERS[key] ? key : 'all';
  const statuses = ATTEMPT_FILTERS[filter]!.statuses;
  const { store, config } = v.d.ctx;
  const attempts = await store.listAttempts({ ...(statuses ? { statuses } : {}), limit: 200 });
  const retention = await retentionReport(store, config.retentionMs, v.now);
  return v.full(200, {
    title: 'Attempts',
    nav: 'attempts',
    flash: v.d.auth.takeFlash(v.cookie),
    body: attemptsBody({ attempts, filter, now: v.now, retention }),
  });
}

export async function attentionPage(v: Visit): Promise<Response> {
  const { store } = v.d.ctx;
  const attempts = await store.listAttempts({ statuses: ATTENTION_STATUSES, unresolved: true, limit: 500 });
  const connections = await store.listConnections({ status: 'needs_reconnect' });
  return v.full(200, {
    title: 'Needs attention',
    nav: 'attention',
    flash: v.d.auth.takeFlash(v.cookie),
    body: attentionBody({ attempts, connections, csrf: v.csrf, now: v.now }),
  });
}

export async function eventsPage(v: Visit): Promise<Response> {
  const { store, config } = v.d.ctx;
  const [events, deliveries] = await Promise.all([
    store.listEvents({ limit: 200 }),
    store.listDeliveries({ limit: 200 }),
  ]);
  return v.full(200, {
    title: 'Events',
    nav: 'events',
    flash: v.d.auth.takeFlash(v.cookie),
    body: eventsBody({ events, deliveries, webhooks: config.webhookUrls.length > 0, now: v.now }),
  });
}

export async function connectionPage(v: Visit, c: Connection): Promise<Response> {
  const { store } = v.d.ctx;
  const [credentials, attempts, events] = await Promise.all([
    store.listCredentials({ connectionId: c.id }),
    store.listAttempts({ connectionId: c.id, limit: 50 }),
    store.listEvents({ connectionId: c.id, limit: 50 }),
  ]);
  credentials.sort((a, b) => b.createdAt - a.createdAt);
  return v.full(200, {
    title: `${c.tenant} · ${c.sellerProject}`,
    nav: 'connections',
    flash: v.d.auth.takeFlash(v.cookie),
    body: connectionBody({ c, credentials, attempts, events, csrf: v.csrf, now: v.now }),
  });
}

/** The confirmation page of the disconnect address (GET); the POST disconnects. */
export function confirmDisconnectPage(v: Visit, c: Connection): Promise<Response> {
  return v.full(200, { title: 'Disconnect', nav: 'connections', body: disconnectBody({ c, csrf: v.csrf }) });
}

export function connectionNotFound(v: Visit): Promise<Response> {
  return v.full(404, {
    title: 'Not found',
    nav: 'connections',
    body: messageBody('No such connection', 'It may have been removed.', {
      href: '/',
      label: 'All connections',
    }),
  });
}
