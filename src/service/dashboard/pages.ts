// The dashboard's page bodies. Each takes plain records and returns escaped markup; none reads a sealed column,
// so no page can show a key, an access token or a raw exchange body.

import type {
  Attempt,
  AttemptStatus,
  Connection,
  Credential,
  Delivery,
  EventRecord,
} from '../../store/index.js';
import type { RetentionReport } from '../retention.js';
import { ago, badge, clipped, Html, html, mono, shortId, when } from './html.js';

export const ATTENTION_STATUSES: readonly AttemptStatus[] = [
  'ORPHAN_SUSPECTED',
  'NEEDS_RECONNECT',
  'NEEDS_ATTENTION',
];

export const ATTEMPT_FILTERS: Record<string, { label: string; statuses?: readonly AttemptStatus[] }> = {
  all: { label: 'All' },
  progress: {
    label: 'In progress',
    statuses: ['STARTED', 'CLAIMED', 'TOKEN_ISSUED', 'EXCHANGE_SENT', 'KEY_STORED'],
  },
  connected: { label: 'Connected', statuses: ['CONNECTED', 'REPAIRED'] },
  failed: { label: 'Failed', statuses: ['FAILED'] },
  attention: { label: 'Needs attention', statuses: ATTENTION_STATUSES },
};

function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

function empty(text: string, cols: number): Html {
  return html`<tr><td colspan="${cols}" class="empty">${text}</td></tr>`;
}

function table(head: string[], rows: Html[], emptyText: string): Html {
  return html`<div class="table"><table><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${
    rows.length > 0 ? rows : empty(emptyText, head.length)
  }</tbody></table></div>`;
}

function health(c: Connection, now: number, compact = false): Html {
  if (c.lastHealthAt === null) return html`<span class="muted">never checked</span>`;
  // A check of a connection that is no longer active says nothing about now: shown greyed, never green.
  if (c.status !== 'active')
    return html`<span class="badge b-off" title="checked before the connection ended">${c.lastHealthOk ? 'was ok' : 'failed'}</span> ${compact ? ago(c.lastHealthAt, now) : when(c.lastHealthAt, now)}`;
  const verdict = c.lastHealthOk
    ? html`<span class="badge b-ok">ok</span>`
    : html`<span class="badge b-bad">failed</span>`;
  return html`${verdict} ${compact ? ago(c.lastHealthAt, now) : when(c.lastHealthAt, now)}`;
}

// --- sign-in ----------------------------------------------------------------------------------------------

export function signInBody(o: { csrf: string; next: string; dev?: boolean; error?: string }): Html {
  return html`<div class="narrow card"><h1>Sign in to the dashboard</h1>
<p class="muted">${
    o.dev
      ? html`Open the sign-in link <code>noon-connect dev</code> printed when it started, or paste the token from it.`
      : html`Use the admin token this service was started with (<code>NOON_CONNECT_ADMIN_TOKEN</code>).`
  }</p>
${o.error ? html`<div class="flash flash-bad" role="alert">${o.error}</div>` : ''}
<form method="post" action="/sign-in">${csrfField(o.csrf)}<input type="hidden" name="next" value="${o.next}">
<p><label for="token">Admin token</label><input type="password" id="token" name="token" autocomplete="current-password" required autofocus></p>
<p><button type="submit">Sign in</button></p></form></div>`;
}

/** A same-site hop: a cookie kept `SameSite=Strict` is not sent on a navigation that started on another site. */
export function reloadBody(target: string): Html {
  return html`<div class="narrow card"><h1>Opening the dashboard…</h1><p><a class="button" href="${target}">Continue</a></p></div>`;
}

export function reloadHead(target: string): Html {
  return html`<meta http-equiv="refresh" content="0;url=${target}">`;
}

// --- connections ------------------------------------------------------------------------------------------

export function connectionsBody(o: {
  connections: Connection[];
  attention: number;
  csrf: string;
  now: number;
}): Html {
  const { connections, now } = o;
  const count = (s: Connection['status']) => connections.filter((c) => c.status === s).length;
  const rows = connections.map((c) => {
    const href = `/connections/${encodeURIComponent(c.id)}`;
    return html`<tr><td>${c.tenant}</td><td><a href="${href}"><code>${c.sellerProject}</code></a></td><td>${badge(c.status)}</td><td>${clipped(c.keyId)}</td><td>${clipped(c.channelIdentifier, 20)}</td><td class="nowrap">${ago(c.connectedAt, now)}</td><td class="nowrap">${health(c, now, true)}</td><td><a class="details" href="${href}">Details →</a></td></tr>`;
  });
  return html`<h1>Connections</h1>
<div class="grid">
<div class="stat"><span class="muted">Active</span><b>${count('active')}</b></div>
<div class="stat"><span class="muted">Need a reconnect</span><b>${count('needs_reconnect')}</b></div>
<div class="stat"><span class="muted">Disconnected</span><b>${count('disconnected')}</b></div>
<div class="stat"><a href="/attention"><span class="muted">Attempts needing attention</span><b>${o.attention}</b></a></div>
</div>
<div class="card"><h2 style="margin-top:0">Connect a seller</h2>
<p class="muted">Creates a signed connect link for a tenant and opens it: the seller signs in on noon, grants access, and comes back here.</p>
<form method="post" action="/connect-seller" class="row">${csrfField(o.csrf)}
<div><label for="tenant">Tenant</label><input type="text" id="tenant" name="tenant" value="demo" required maxlength="128" pattern="[A-Za-z0-9._:@\\-]{1,128}"></div>
<div style="flex:0 0 auto"><button type="submit">Connect a seller</button></div></form></div>
<h2>All connections</h2>
${table(
  ['Tenant', 'Project code', 'Status', 'Key id', 'Channel identifier', 'Connected', 'Last health check', ''],
  rows,
  'No seller is connected yet. Use “Connect a seller” above.',
)}`;
}

export function connectionBody(o: {
  c: Connection;
  credentials: Credential[];
  attempts: Attempt[];
  events: EventRecord[];
  csrf: string;
  now: number;
}): Html {
  const { c, now } = o;
  const id = encodeURIComponent(c.id);
  const action = (path: string, label: string, cls = '') =>
    html`<form method="post" action="/connections/${id}/${path}">${csrfField(o.csrf)}<button type="submit"${cls ? new Html(` class="${cls}"`) : ''}>${label}</button></form>`;
  const active = c.status === 'active';
  const keys = o.credentials.map(
    (k) =>
      html`<tr><td>${mono(k.keyId)}</td><td>${badge(k.state)}</td><td class="nowrap">${when(k.createdAt, now)}</td><td class="nowrap">${when(k.removedAt, now)}</td></tr>`,
  );
  return html`<p><a href="/">← Connections</a></p>
<h1>${c.tenant} · <code>${c.sellerProject}</code> ${badge(c.status)}</h1>
<div class="card"><dl class="fields">
<dt>Tenant</dt><dd>${c.tenant}</dd>
<dt>Project code</dt><dd>${mono(c.sellerProject)}</dd>
<dt>Status</dt><dd>${badge(c.status)}</dd>
<dt>Key id</dt><dd>${mono(c.keyId)}</dd>
<dt>Channel identifier</dt><dd>${mono(c.channelIdentifier)}</dd>
<dt>User code</dt><dd>${mono(c.userCode)}</dd>
<dt>oauth_request_id</dt><dd>${mono(c.oauthRequestId)}</dd>
<dt>Created</dt><dd>${when(c.createdAt, now)}</dd>
<dt>Connected</dt><dd>${when(c.connectedAt, now)}</dd>
<dt>Updated</dt><dd>${when(c.updatedAt, now)}</dd>
<dt>Last health check</dt><dd>${health(c, now)}${c.lastHealthDetail ? html`<br><span class="muted">${c.lastHealthDetail}</span>` : ''}</dd>
<dt>Connection id</dt><dd>${mono(c.id)}</dd>
</dl></div>
<h2>Actions</h2>
<div class="card"><div class="actions">
${active ? action('test', 'Test connection', 'secondary') : ''}
${active ? action('rotate', 'Rotate key', 'secondary') : ''}
${action('reconnect', 'Reconnect', 'secondary')}
${c.status !== 'disconnected' ? html`<a class="button danger-outline" href="/connections/${id}/disconnect">Disconnect…</a>` : ''}
</div>
<p class="muted small">${
    active
      ? 'Test connection signs in as the seller and asks noon who it is. Rotate key creates a new key, switches to it, then removes the old one. Reconnect opens a new connect link for this seller. Disconnect removes this connection’s keys on noon.'
      : 'Reconnect opens a new connect link for this seller: once they grant access again, the connection is active with a fresh key.'
  }</p></div>
<h2>Keys</h2>
${table(['Key id', 'State', 'Created', 'Removed'], keys, 'No key is stored for this connection.')}
<h2>Attempts</h2>
${attemptsTable(o.attempts, now)}
<h2>Events</h2>
${eventsTable(o.events, now)}`;
}

export function disconnectBody(o: { c: Connection; csrf: string }): Html {
  const id = encodeURIComponent(o.c.id);
  return html`<p><a href="/connections/${id}">← Back</a></p>
<div class="card danger-zone" style="max-width:38rem"><h1>Disconnect <code>${o.c.sellerProject}</code>?</h1>
<p>This removes the connection's keys on noon for tenant <b>${o.c.tenant}</b>. The seller has to connect again to use it.</p>
<div class="actions" style="margin-top:1rem"><form method="post" action="/connections/${id}/disconnect">${csrfField(o.csrf)}<button type="submit" class="danger">Disconnect</button></form>
<a class="button secondary" href="/connections/${id}">Cancel</a></div></div>`;
}

// --- attempts ---------------------------------------------------------------------------------------------

/** An operator's Resolve button for an attempt that keeps a key's raw answer. */
function resolveForm(a: Attempt, csrf: string): Html {
  return html`<form method="post" action="/attempts/${a.id}/resolve">${csrfField(csrf)}<button type="submit" class="secondary" title="Drops the key answer kept with this attempt; do it once the key is dealt with">Resolve</button></form>`;
}

/** Attempts in a table; with `csrf`, an unresolved NEEDS_ATTENTION row gets a Resolve button. */
export function attemptsTable(attempts: Attempt[], now: number, o: { csrf?: string } = {}): Html {
  const rows = attempts.map(
    (a) =>
      html`<tr><td>${shortId(a.id)}</td><td>${a.kind}</td><td>${a.tenant}</td><td>${badge(a.status)}${
        a.resolvedAt
          ? html`<br><span class="muted small">resolved (${a.resolution ?? 'operator'})</span>`
          : ''
      }</td><td>${
        a.connectionId
          ? html`<a href="/connections/${encodeURIComponent(a.connectionId)}">${mono(a.sellerProject)}</a>`
          : mono(a.sellerProject)
      }</td><td>${clipped(a.oauthRequestId, 8)}</td><td>${clipped(a.keyId)}</td><td>${
        a.errorCode
          ? html`<code>${a.errorCode}</code>${a.errorDetail ? html`<br><span class="muted small">${a.errorDetail.slice(0, 200)}</span>` : ''}`
          : html`<span class="muted">—</span>`
      }</td><td>${a.exchangeSends}</td><td class="nowrap">${ago(a.createdAt, now)}</td><td class="nowrap">${ago(a.updatedAt, now)}</td>${
        o.csrf === undefined
          ? ''
          : html`<td>${a.status === 'NEEDS_ATTENTION' && !a.resolvedAt ? resolveForm(a, o.csrf) : ''}</td>`
      }</tr>`,
  );
  return table(
    [
      'Attempt',
      'Kind',
      'Tenant',
      'State',
      'Project code',
      'oauth_request_id',
      'Key id',
      'Error',
      'Sends',
      'Created',
      'Updated',
      ...(o.csrf === undefined ? [] : ['']),
    ],
    rows,
    'No attempts.',
  );
}

/** What retention keeps and has removed (see docs/service.md, Retention). */
export function retentionBody(r: RetentionReport): Html {
  return html`<div class="card"><h2 style="margin-top:0">Retention</h2>
<p class="muted">Ended attempts, delivered events and their deliveries are kept ${r.days} days (<code>NOON_CONNECT_RETENTION_DAYS</code>), then purged by the reconciler. A key answer kept for an operator stays, with its attempt, until it is resolved.</p>
<div class="grid">
<div class="stat"><span class="muted">Attempts kept</span><b>${r.attempts}</b></div>
<div class="stat"><span class="muted">Events kept</span><b>${r.events}</b></div>
<div class="stat"><span class="muted">Deliveries kept</span><b>${r.deliveries}</b></div>
<div class="stat"><span class="muted">Key answers held</span><b>${r.heldAnswers}</b></div>
</div>
<p class="muted small">Past the age, purged on the next pass: ${r.purgeable.attempts} attempts, ${r.purgeable.events} events, ${r.purgeable.deliveries} deliveries. Removed so far: ${r.purged.attempts} attempts, ${r.purged.events} events, ${r.purged.deliveries} deliveries, ${r.purged.answers} kept answers.</p></div>`;
}

export function attemptsBody(o: {
  attempts: Attempt[];
  filter: string;
  now: number;
  retention: RetentionReport;
}): Html {
  const filters = Object.entries(ATTEMPT_FILTERS).map(
    ([k, f]) =>
      html`<a href="/attempts${k === 'all' ? '' : `?state=${k}`}"${k === o.filter ? new Html(' aria-current="page"') : ''}>${f.label}</a>`,
  );
  return html`<h1>Attempts</h1>
<p class="lead">Every connect, rotation and repair, with the state its journal reached (newest first; ${
    o.attempts.length < o.retention.attempts
      ? `the newest ${o.attempts.length} of ${o.retention.attempts} kept`
      : `${o.attempts.length} shown`
  }).</p>
<div class="filters">${filters}</div>
${attemptsTable(o.attempts, o.now)}
${retentionBody(o.retention)}`;
}

const ATTENTION_HELP: Record<string, string> = {
  ORPHAN_SUSPECTED:
    'noon may have issued a key that was never stored here. The reconciler lists the seller’s keys, removes the unknown ones and creates a fresh key when it can; it runs on its own.',
  NEEDS_RECONNECT:
    'A key may exist on noon that this service does not hold, and it cannot be repaired from here. Ask the seller to connect again (Reconnect).',
  NEEDS_ATTENTION:
    'A key was received and kept, but it failed validation or disagrees with what noon said before. Check the error and decide: reconnect or disconnect. Then Resolve drops the kept answer (it is dropped by itself once noon no longer lists the key).',
};

export function attentionBody(o: {
  attempts: Attempt[];
  connections: Connection[];
  csrf: string;
  now: number;
}): Html {
  const sections = ATTENTION_STATUSES.map((s) => {
    const list = o.attempts.filter((a) => a.status === s);
    return html`<h2>${badge(s)} <span class="muted small">${list.length}</span></h2><p class="muted">${ATTENTION_HELP[s] ?? ''}</p>${
      list.length > 0
        ? attemptsTable(list, o.now, { csrf: o.csrf })
        : html`<div class="section-empty">None.</div>`
    }`;
  });
  const conns = o.connections.map(
    (c) =>
      html`<tr><td>${c.tenant}</td><td><a href="/connections/${encodeURIComponent(c.id)}"><code>${c.sellerProject}</code></a></td><td>${badge(c.status)}</td><td class="nowrap">${ago(c.updatedAt, o.now)}</td><td><form method="post" action="/connections/${encodeURIComponent(c.id)}/reconnect">${csrfField(o.csrf)}<button type="submit" class="secondary">Reconnect</button></form></td></tr>`,
  );
  const clear = o.attempts.length === 0 && o.connections.length === 0;
  return html`<h1>Needs attention</h1>
<p class="lead">Orphaned keys and attempts an operator has to look at. Orphans use up the seller’s 5 key slots, so they are repaired promptly.</p>
${clear ? html`<div class="all-clear">Nothing needs attention: no orphaned key, no attempt waiting for a decision.</div>` : ''}
<h2>Connections that need a reconnect <span class="muted small">${o.connections.length}</span></h2>
${conns.length > 0 ? table(['Tenant', 'Project code', 'Status', 'Updated', ''], conns, 'None.') : html`<div class="section-empty">None.</div>`}
${sections}`;
}

// --- events -------------------------------------------------------------------------------------------------

/** Payload fields shown: the metadata an event carries by design, named one by one. */
const EVENT_FIELDS = ['seller_project', 'key_id', 'channel_identifier', 'oauth_request_id', 'error_code'];

function eventDetails(e: EventRecord): Html {
  let payload: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(e.payload) as unknown;
    if (parsed && typeof parsed === 'object') payload = parsed as Record<string, unknown>;
  } catch {
    // A payload that is not JSON shows nothing rather than raw text.
  }
  const parts = EVENT_FIELDS.filter((k) => typeof payload[k] === 'string').map(
    (k) => html`<span class="muted small">${k}</span> <code>${String(payload[k])}</code><br>`,
  );
  return parts.length > 0 ? html`${parts}` : html`<span class="muted">—</span>`;
}

export function eventsTable(events: EventRecord[], now: number): Html {
  const rows = events.map(
    (e) =>
      html`<tr><td>${badge(e.type)}</td><td>${e.tenant}</td><td>${
        e.connectionId
          ? html`<a href="/connections/${encodeURIComponent(e.connectionId)}">${shortId(e.connectionId)}</a>`
          : html`<span class="muted">—</span>`
      }</td><td>${e.attemptId ? shortId(e.attemptId) : html`<span class="muted">—</span>`}</td><td class="wrap">${eventDetails(e)}</td><td class="nowrap">${when(e.createdAt, now)}</td></tr>`,
  );
  return table(['Event', 'Tenant', 'Connection', 'Attempt', 'Details', 'When'], rows, 'No events yet.');
}

/** A webhook endpoint without credentials, query or fragment: those may carry a receiver's secret. */
export function endpointLabel(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

export function eventsBody(o: {
  events: EventRecord[];
  deliveries: Delivery[];
  webhooks: boolean;
  now: number;
}): Html {
  const rows = o.deliveries.map(
    (d) =>
      html`<tr><td>${shortId(d.eventId)}</td><td><code>${endpointLabel(d.endpoint)}</code></td><td>${
        d.deliveredAt !== null
          ? html`<span class="badge b-ok">delivered</span>`
          : html`<span class="badge b-warn">pending</span>`
      }</td><td>${d.attempts}</td><td>${d.lastStatus ?? html`<span class="muted">—</span>`}${
        d.lastError ? html`<br><span class="muted small">${d.lastError.slice(0, 120)}</span>` : ''
      }</td><td class="nowrap">${d.deliveredAt !== null ? when(d.deliveredAt, o.now) : when(d.nextAt, o.now)}</td></tr>`,
  );
  return html`<h1>Events</h1>
<p class="lead">What happened to connections, newest first. The same events are sent to the webhook endpoints.</p>
${eventsTable(o.events, o.now)}
<h2>Webhook deliveries</h2>
${
  o.webhooks
    ? ''
    : html`<p class="muted">No webhook endpoint is configured: set <code>NOON_CONNECT_WEBHOOK_URLS</code> (with <code>noon-connect dev</code> too), or forward events to a local URL with <code>noon-connect webhooks listen --forward-to &lt;url&gt;</code>.</p>`
}
${table(['Event', 'Endpoint', 'State', 'Tries', 'Last answer', 'Delivered / next try'], rows, 'No deliveries.')}`;
}

export function messageBody(title: string, text: string, link?: { href: string; label: string }): Html {
  return html`<div class="narrow card"><h1>${title}</h1><p>${text}</p>${
    link ? html`<p><a class="button secondary" href="${link.href}">${link.label}</a></p>` : ''
  }</div>`;
}
