// The Access App views: OAuth requests (the "OAuth tab", NC31) and, per project, its service accounts and
// their keys. Never a private key: the sandbox does not have them.

import type { Context } from '../context.js';
import { escapeHtml, html, type SandboxRequest, type SandboxResponse } from '../http.js';
import { h, layout, PAGE_HEADERS, raw } from '../pages.js';

function iso(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toISOString();
}

function projectLink(code: string): string {
  // A denial recorded without a valid project choice has no project to link to.
  if (!code) return '—';
  return h`<a href="/access/projects/${encodeURIComponent(code)}">${code}</a>`;
}

export function accessOAuth(_req: SandboxRequest, ctx: Context): SandboxResponse {
  const rows = [...ctx.world.requests.values()]
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((r) => {
      const client = ctx.world.clients.get(r.clientId);
      return h`<tr><td><code>${r.id}</code></td><td>${client?.name ?? r.clientId}<br><code>${r.clientId}</code></td>
<td>${raw(projectLink(r.sellerProject))}</td><td>${raw(projectLink(r.integratorProject))}</td>
<td class="status">${r.status}</td><td class="when">${iso(r.createdAt)}</td><td class="when">${iso(r.updatedAt)}</td></tr>`;
    })
    .join('');
  const table = rows
    ? h`<table><thead><tr><th>oauth_request_id</th><th>client</th><th>seller project</th>
<th>integrator project</th><th>status</th><th>created</th><th>updated</th></tr></thead><tbody>${raw(rows)}</tbody></table>`
    : '<p class="muted">No OAuth requests yet: they appear here once a seller approves or denies a consent.</p>';
  return html(
    200,
    layout('OAuth requests · Access App', h`<h1>OAuth requests</h1><div class="card">${raw(table)}</div>`, {
      wide: true,
    }),
    { ...PAGE_HEADERS },
  );
}

function notFound(code: string): SandboxResponse {
  return html(404, layout('Not found · Access App', h`<h1>No project ${code}</h1>`, { wide: true }), {
    ...PAGE_HEADERS,
  });
}

export function accessProject(req: SandboxRequest, ctx: Context): SandboxResponse {
  let code: string;
  try {
    code = decodeURIComponent(req.path.slice('/access/projects/'.length));
  } catch {
    // A malformed escape (`%E0%A4%A`) names no project; decodeURIComponent throws URIError on it.
    return notFound(req.path.slice('/access/projects/'.length));
  }
  const project = ctx.world.projects.get(code);
  if (!project) return notFound(code);
  const accounts = [...ctx.world.accounts.values()].filter(
    (a) => a.ownerProject === code || a.projects.includes(code),
  );
  const sections = accounts
    .map((a) => {
      const keys = ctx.world
        .accountKeys(a.userCode)
        .map(
          (k) =>
            h`<tr><td><code>${k.keyId}</code></td><td class="when">${iso(k.issuedAt)}</td><td>${k.active ? 'active' : `removed ${iso(k.deactivatedAt)}`}</td><td><code>${k.fingerprint}</code></td></tr>`,
        )
        .join('');
      return h`<div class="card"><h2>${a.name}</h2><p><code>${a.channelIdentifier}</code> · user_code <code>${a.userCode}</code>
· owner ${a.ownerProject} · acts in ${a.projects.join(', ')}</p>
<table><thead><tr><th>key_id</th><th>issued</th><th>state</th><th>public key SHA-256</th></tr></thead><tbody>${raw(keys)}</tbody></table></div>`;
    })
    .join('');
  return html(
    200,
    layout(
      `${escapeHtml(code)} · Access App`,
      h`<h1>${project.name} <code>${code}</code></h1><p class="muted">${project.kind} project · <a href="/access/oauth">OAuth requests</a></p>${raw(sections || '<div class="card"><p class="muted">No service accounts.</p></div>')}`,
      { wide: true },
    ),
    { ...PAGE_HEADERS },
  );
}
