// Server-rendered HTML for the consent flow and the Access App views: no scripts, no external assets, every
// value escaped.

import { escapeHtml } from './http.js';

/**
 * Headers on every consent page (NC19): no framing, no referrer, no caching. No `form-action` directive: Chromium
 * applies it to the 303 that follows the approve/deny post, so `form-action 'self'` would block the redirect to
 * the integrator's callback (the browser test fails with it).
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
});

const STYLE = `*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:36rem;margin:2.5rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45;background:#fafafa}
body.wide{max-width:64rem}
header{font-weight:700;color:#6b5200;margin-bottom:1.5rem;letter-spacing:.01em}
header span{font-weight:400;color:#777}
h1{font-size:1.4rem;margin:0 0 .75rem}h2{font-size:1.1rem;margin:0 0 .5rem}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:1.25rem 1.5rem;margin:1rem 0}
button{font:inherit;padding:.5rem 1.25rem;border-radius:6px;border:1px solid #888;background:#f2f2f2;color:#1b1b1b;cursor:pointer;margin-right:.5rem}
button.primary{background:#feee00;border-color:#c8b900;font-weight:600}
button.link{background:none;border:none;padding:0;margin:0;color:#0b57d0;text-decoration:underline;font-size:.85rem}
label{display:block;margin:.6rem 0}
input[type=email],input[type=password]{display:block;width:100%;margin-top:.25rem;padding:.45rem .5rem;font:inherit;border:1px solid #aaa;border-radius:4px}
fieldset{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}legend{font-weight:600;padding:0 .25rem}
fieldset label{display:flex;gap:.5rem;align-items:baseline;margin:.4rem 0}
.perm{background:#f6f6f6;border-left:3px solid #c8b900;padding:.5rem .75rem;margin:.75rem 0}
.actions{margin:1.25rem 0 .5rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #eee;padding:.4rem;text-align:left;vertical-align:top}
th{font-weight:600;background:#f6f6f6}
.status{font-weight:600}
.error{color:#a00000}.muted{color:#666;font-size:.85rem}code{font-size:.85rem}td code{overflow-wrap:anywhere}td.when{white-space:nowrap}`;

/**
 * `title` and `body` are already-escaped HTML fragments built with `h`. `wide` suits the Access App's tables; the
 * consent pages keep a narrow column so the question and its two answers are read together.
 */
export function layout(title: string, body: string, o: { wide?: boolean } = {}): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title}</title><style>${STYLE}</style></head>
<body${o.wide ? ' class="wide"' : ''}><header>noon partners <span>· sandbox</span></header>${body}</body></html>`;
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
