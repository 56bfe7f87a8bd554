// The Access App views: OAuth requests (the "OAuth tab", NC31) and, per project, its service accounts and
// their keys. Never a private key: the sandbox does not have them.

import type { Context } from '../context.js';
import { html, type SandboxRequest, type SandboxResponse } from '../http.js';
import { h, layout, PAGE_HEADERS, raw } from '../pages.js';

function iso(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toISOString();
}

export function accessOAuth(_req: SandboxRequest, ctx: Context): SandboxResponse {
  const rows = [...ctx.world.requests.values()]
    .sort((a, b) => b.createdAt - a.createdAt)
    .map(
      (r) =>
        h`<tr><td><code>${r.id}</code></td><td>${r.clientId}</td><td><a href="/access/projects/${encodeURIComponent(r.sellerProject)}">${r.sellerProject}</a></td>
<td><a href="/access/projects/${encodeURIComponent(r.integratorProject)}">${r.integratorProject}</a></td><td>${r.status}</td><td>${iso(r.createdAt)}</td><td>${iso(r.updatedAt)}</td></tr>`,
    )
    .join('');
  return html(
    200,
    layout(
      'OAuth requests · Access App',
      h`<h1>OAuth requests</h1><table><thead><tr><th>oauth_request_id</th><th>client</th><th>seller project</th>
<th>integrator project</th><th>status</th><th>created</th><th>updated</th></tr></thead><tbody>${raw(rows)}</tbody></table>`,
    ),
    { ...PAGE_HEADERS },
  );
}

export function accessProject(req: SandboxRequest, ctx: Context): SandboxResponse {
  const code = decodeURIComponent(req.path.slice('/access/projects/'.length));
  const project = ctx.world.projects.get(code);
  if (!project) return html(404, layout('Not found', h`<h1>No project ${code}</h1>`), { ...PAGE_HEADERS });
  const accounts = [...ctx.world.accounts.values()].filter(
    (a) => a.ownerProject === code || a.projects.includes(code),
  );
  const sections = accounts
    .map((a) => {
      const keys = ctx.world
        .accountKeys(a.userCode)
        .map(
          (k) =>
            h`<tr><td><code>${k.keyId}</code></td><td>${iso(k.issuedAt)}</td><td>${k.active ? 'active' : `removed ${iso(k.deactivatedAt)}`}</td><td><code>${k.fingerprint}</code></td></tr>`,
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
      `${code} · Access App`,
      h`<h1>${project.name} <code>${code}</code></h1><p class="muted">${project.kind} project</p>${raw(sections || '<p>No service accounts.</p>')}`,
    ),
    { ...PAGE_HEADERS },
  );
}
