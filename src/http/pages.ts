// The connect result pages: plain server-rendered HTML, every value escaped, no scripts, no secrets.

import { lightResponse } from './light-response.js';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c] ?? c);
}

/** Headers every connect page and redirect carries. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
});

const STYLE = `body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}
h1{font-size:1.35rem}.card{border:1px solid #ddd;border-radius:8px;padding:1.25rem 1.5rem}
.ok{color:#0a6b2d}.bad{color:#a00000}.muted{color:#666;font-size:.9rem}code{font-size:.9rem}a.button,button.button{display:inline-block;font:inherit;cursor:pointer;background:#fff;margin-top:.5rem;padding:.45rem 1rem;border:1px solid #888;border-radius:6px;color:inherit;text-decoration:none}`;

/** What a connect result page says. */
export interface PageContent {
  title: string;
  tone: 'ok' | 'bad' | 'neutral';
  lines: string[];
  /** A link back, already a safe relative path. */
  link?: { href: string; label: string };
  /** Small print, e.g. a support reference. */
  note?: string;
  /** A button that POSTs hidden fields to a same-origin path (a link's Continue step). */
  form?: { action: string; fields: Readonly<Record<string, string>>; label: string };
}

/** The HTML of a connect result page; every value is escaped. */
export function renderPage(p: PageContent): string {
  const cls = p.tone === 'neutral' ? '' : ` class="${p.tone}"`;
  const lines = p.lines.map((l) => `<p>${esc(l)}</p>`).join('');
  const link = p.link ? `<a class="button" href="${esc(p.link.href)}">${esc(p.link.label)}</a>` : '';
  const note = p.note ? `<p class="muted">${esc(p.note)}</p>` : '';
  const form = p.form
    ? `<form method="post" action="${esc(p.form.action)}">${Object.entries(p.form.fields)
        .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
        .join('')}<button class="button" type="submit">${esc(p.form.label)}</button></form>`
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(p.title)}</title><style>${STYLE}</style></head><body><div class="card"><h1${cls}>${esc(p.title)}</h1>${lines}${form}${link}${note}</div></body></html>`;
}

/** A connect result page as a Response, with {@link PAGE_HEADERS} (and `extra` headers). */
export function htmlResponse(status: number, p: PageContent, extra: Record<string, string> = {}): Response {
  return lightResponse(renderPage(p), status, {
    'content-type': 'text/html; charset=utf-8',
    ...PAGE_HEADERS,
    ...extra,
  });
}
