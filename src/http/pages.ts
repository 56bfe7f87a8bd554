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

// --- The connect outcome pages ---------------------------------------------------------------------------

/** What a connect ended as, for the `connect_status` query parameter of the way back. */
export type OutcomeStatus =
  | 'connected'
  | 'already_connected'
  | 'denied'
  | 'expired'
  | 'failed'
  | 'pending'
  | 'link_used'
  | 'invalid_link'
  | 'unavailable';

/** A relative path with the given query fields added (its own query kept). */
export function withQuery(path: string, fields: Record<string, string>): string {
  const u = new URL(path, 'http://x.invalid');
  for (const [k, v] of Object.entries(fields)) u.searchParams.set(k, v);
  return `${u.pathname}${u.search}`;
}

/**
 * The way back from a result page: the tenant's return path (which, for the service in dev, is the dashboard),
 * told what happened through `connect_status`; `/` when the flow has no return path of its own. A return path is
 * always a checked relative path; anything else falls back to `/`.
 */
export function wayBack(
  returnTo: string | undefined,
  status: OutcomeStatus,
): { href: string; label: string } {
  const safe = returnTo !== undefined && /^\/(?!\/)/.test(returnTo) && !returnTo.includes('\\');
  if (!safe || returnTo === '/') return { href: '/', label: 'Go back' };
  return { href: withQuery(returnTo, { connect_status: status }), label: 'Go back' };
}

/** The page of every way a connect can end; `returnTo` is the attempt's return path when it is known. */
export function outcomePage(
  status: OutcomeStatus,
  o: {
    returnTo?: string | undefined;
    sellerProject?: string | null;
    reference?: string;
    detail?: string;
  } = {},
): PageContent {
  const link = wayBack(o.returnTo, status);
  const note = o.reference ? `Reference ${o.reference}` : undefined;
  const base = { link, ...(note ? { note } : {}) };
  switch (status) {
    case 'connected':
      return {
        title: 'Connected',
        tone: 'ok',
        lines: [
          o.sellerProject
            ? `Your noon project ${o.sellerProject} is connected.`
            : 'Your noon project is connected.',
        ],
        ...base,
      };
    case 'already_connected':
      return {
        title: 'Already connected',
        tone: 'ok',
        lines: [
          o.sellerProject
            ? `Your noon project ${o.sellerProject} is already connected; nothing changed.`
            : 'Your noon project is already connected; nothing changed.',
        ],
        ...base,
      };
    case 'denied':
      return {
        title: 'Not connected',
        tone: 'neutral',
        lines: [
          'You chose not to give access on noon, so nothing was connected.',
          'You can connect later from the same place.',
        ],
        ...base,
      };
    case 'expired':
      return {
        title: 'This link expired',
        tone: 'bad',
        lines: ['Connect links last 10 minutes and this one ran out, so nothing was connected. Start again.'],
        ...base,
      };
    case 'failed':
      return {
        title: 'Not connected',
        tone: 'bad',
        lines: [o.detail ?? 'Connecting to noon did not finish. Start the connection again.'],
        ...base,
      };
    case 'pending':
      return {
        title: 'Finishing the connection',
        tone: 'neutral',
        lines: [
          'We could not confirm the connection yet. It will be completed or flagged automatically; check back in a minute.',
        ],
        ...base,
      };
    case 'link_used':
      return {
        title: 'This connect link was already used',
        tone: 'bad',
        lines: [
          o.detail ??
            'Each connect link starts one connection, and this one has been used. Ask for a new link.',
        ],
        ...base,
      };
    case 'invalid_link':
      return {
        title: 'This connect link is not valid',
        tone: 'bad',
        lines: [
          o.detail ??
            'It was not issued to this browser, or it was already used. Start the connection again.',
        ],
        ...base,
      };
    case 'unavailable':
      return {
        title: 'Temporarily unavailable',
        tone: 'bad',
        lines: ['Nothing was sent to noon. Go back and start the connection again in a moment.'],
        ...base,
      };
  }
}

/** A "not found" page for a browser, with the way back to `/`. */
export function notFoundPage(): PageContent {
  return {
    title: 'Page not found',
    tone: 'bad',
    lines: ['There is nothing at this address.'],
    link: { href: '/', label: 'Go to the start page' },
  };
}
