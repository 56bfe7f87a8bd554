// The dashboard's API token and audit pages: list, create (the token is shown once, on the answer to the form,
// never kept anywhere but in its hash) and revoke tokens; read the audit log. Every action here is recorded in
// the audit log under the admin session's handle.

import { auditJson } from '../audit.js';
import { TokenInputError, type TokenView } from '../tokens.js';
import { sessionActor } from './auth.js';
import type { Visit } from './context.js';
import { type Html, html } from './html.js';

function grid(header: string[], rows: Html[], empty: string): Html {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<div class="table-wrap"><table><thead><tr>${header.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

const dash = (v: string | null): Html | string => v ?? html`<span class="muted">—</span>`;

function tokensTable(tokens: TokenView[], csrf: string): Html {
  return grid(
    ['Prefix', 'Name', 'Tenant', 'Status', 'Created', 'Expires', 'Last used', ''],
    tokens.map(
      (t) =>
        html`<tr><td><code>${t.prefix}</code></td><td>${t.name}</td><td>${t.tenant ?? html`<em>all tenants</em>`}</td><td>${t.status}</td><td class="nowrap">${t.created_at}</td><td class="nowrap">${dash(t.expires_at)}</td><td class="nowrap">${dash(t.last_used_at)}</td><td>${
          t.status === 'active'
            ? html`<form method="post" action="/tokens/${t.prefix}/revoke"><input type="hidden" name="csrf" value="${csrf}"><button type="submit">Revoke</button></form>`
            : ''
        }</td></tr>`,
    ),
    'No API tokens yet. NOON_CONNECT_API_TOKEN, when set, works as an all-tenants token.',
  );
}

function tokensBody(o: {
  tokens: TokenView[];
  csrf: string;
  created?: { token: string; view: TokenView };
}): Html {
  const created = o.created
    ? html`<div class="card"><h2>Token created: copy it now</h2><p>This is the only time it is shown; the service keeps only its hash.</p><p><code class="wrap">${o.created.token}</code></p><p class="muted">Prefix <code>${o.created.view.prefix}</code>, ${o.created.view.tenant ? html`tenant <code>${o.created.view.tenant}</code>` : 'all tenants'}.</p></div>`
    : '';
  return html`<h1>API tokens</h1>
<p class="lead">Bearer tokens for the REST API, each limited to one tenant or to all. <a href="/audit">Audit log</a></p>
${created}
${tokensTable(o.tokens, o.csrf)}
<h2>New token</h2>
<form method="post" action="/tokens" class="card">
<input type="hidden" name="csrf" value="${o.csrf}">
<p><label>Name <input name="name" required maxlength="80"></label></p>
<p><label>Tenant (empty: all tenants) <input name="tenant" maxlength="128"></label></p>
<p><label>Expires after (days, empty: never) <input name="expires_days" inputmode="numeric" maxlength="4"></label></p>
<p><button type="submit">Create token</button></p>
</form>`;
}

export async function tokensPage(v: Visit): Promise<Response> {
  return v.full(200, {
    title: 'API tokens',
    nav: 'tokens',
    flash: v.d.auth.takeFlash(v.cookie),
    body: tokensBody({ tokens: await v.d.ctx.tokens.list(), csrf: v.csrf }),
  });
}

/** POST /tokens: the answer is the page with the new token on it (a redirect would have to carry it). */
export async function createTokenAction(v: Visit): Promise<Response> {
  const { tokens, audit } = v.d.ctx;
  const tenant = (v.form.get('tenant') ?? '').trim();
  const days = (v.form.get('expires_days') ?? '').trim();
  const actor = sessionActor(v.cookie);
  let created: Awaited<ReturnType<typeof tokens.create>>;
  try {
    created = await tokens.create({
      name: v.form.get('name') ?? '',
      tenant: tenant === '' ? null : tenant,
      expiresInDays: days === '' ? undefined : Number(days),
      createdBy: actor,
    });
  } catch (e) {
    if (!(e instanceof TokenInputError)) throw e;
    return v.back('/tokens', { tone: 'bad', text: `Token not created: ${e.message}.` });
  }
  await audit({
    actor,
    action: 'token-create',
    tenant: created.view.tenant,
    outcome: 'ok',
    detail: `token ${created.view.prefix}`,
  });
  return v.full(201, {
    title: 'API tokens',
    nav: 'tokens',
    body: tokensBody({ tokens: await tokens.list(), csrf: v.csrf, created }),
  });
}

export async function revokeTokenAction(v: Visit, prefix: string): Promise<Response> {
  const { tokens, audit } = v.d.ctx;
  const outcome = await tokens.revoke(prefix);
  await audit({ actor: sessionActor(v.cookie), action: 'token-revoke', outcome, detail: `token ${prefix}` });
  return v.back(
    '/tokens',
    outcome === 'revoked'
      ? { tone: 'ok', text: `Token ${prefix} revoked: every instance refuses it from now on.` }
      : { tone: 'bad', text: `Token ${prefix} is ${outcome === 'already' ? 'already revoked' : 'unknown'}.` },
  );
}

export async function auditPage(v: Visit): Promise<Response> {
  const connection = v.url.searchParams.get('connection') ?? undefined;
  const tenant = v.url.searchParams.get('tenant') ?? undefined;
  const rows = (
    await v.d.ctx.store.listAudit({
      limit: 200,
      ...(connection ? { connectionId: connection.slice(0, 64) } : {}),
      ...(tenant ? { tenant: tenant.slice(0, 128) } : {}),
    })
  ).map(auditJson);
  return v.full(200, {
    title: 'Audit log',
    nav: 'audit',
    body: html`<h1>Audit log</h1>
<p class="lead">Who did what, to which connection, when; newest first. <a href="/tokens">API tokens</a></p>
${grid(
  ['When', 'Who', 'What', 'Tenant', 'Connection', 'Outcome', 'Detail'],
  rows.map(
    (r) =>
      html`<tr><td class="nowrap">${r.at}</td><td><code>${r.actor}</code></td><td>${r.action}</td><td>${dash(r.tenant)}</td><td>${
        r.connection_id
          ? html`<a href="/connections/${encodeURIComponent(r.connection_id)}">${r.connection_id}</a>`
          : dash(null)
      }</td><td>${r.outcome}</td><td class="wrap">${dash(r.detail)}</td></tr>`,
  ),
  'Nothing recorded yet.',
)}`,
  });
}
