// Server-rendered HTML for the consent flow and the Access App views: no scripts, no external assets, every
// value escaped.

import { escapeHtml } from './http.js';

/** Headers on every consent page (NC19): no framing, no referrer, no caching. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
});

const STYLE = `body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
header{font-weight:700;color:#7a5c00;margin-bottom:1.5rem}h1{font-size:1.4rem}
.card{border:1px solid #ddd;border-radius:8px;padding:1.25rem 1.5rem;margin:1rem 0}
button{font-size:1rem;padding:.5rem 1.25rem;border-radius:6px;border:1px solid #888;cursor:pointer;margin-right:.5rem}
button.primary{background:#feee00;border-color:#c8b900}label{display:block;margin:.5rem 0}
input[type=text],input[type=email],input[type=password]{width:100%;padding:.4rem;font-size:1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #eee;padding:.35rem;text-align:left}
.error{color:#a00000}.muted{color:#666;font-size:.85rem}code{font-size:.85rem}`;

/** `title` and `body` are already-escaped HTML fragments built with `h`. */
export function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><style>${STYLE}</style></head><body><header>noon partners · sandbox</header>${body}</body></html>`;
}

/** Tagged template that escapes every interpolated value unless it is marked `raw`. */
export function h(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out += v instanceof Raw ? v.html : escapeHtml(String(v ?? ''));
    out += strings[i + 1] ?? '';
  }
  return out;
}

export class Raw {
  constructor(readonly html: string) {}
}

export function raw(html: string): Raw {
  return new Raw(html);
}

export function hidden(fields: Record<string, string | undefined>): Raw {
  return raw(
    Object.entries(fields)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => h`<input type="hidden" name="${k}" value="${v}">`)
      .join(''),
  );
}

export function errorPage(title: string, message: string): string {
  return layout(
    escapeHtml(title),
    h`<h1>${title}</h1><div class="card"><p class="error">${message}</p>
<p class="muted">Nothing was shared with the application. Go back to the application and start again.</p></div>`,
  );
}
