// HTML building for the dashboard: a tagged template that escapes every interpolated value unless it is
// already-built HTML, so no page can forget to escape; the shared layout, styles and small formatters.

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Markup built by `html` (or trusted constant markup): interpolated as is. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

function render(v: unknown): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(v);
}

/** `html\`<p>${value}</p>\``: values are escaped; Html values and arrays of them are inserted whole. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

// --- formatting ----------------------------------------------------------------------------------------

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `2025-06-01 12:00:03 UTC`. */
export function utc(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** `just now`, `5 min ago`, `3 h ago`, `2 days ago` (or `in …` for the future). */
export function relative(ms: number, now: number): string {
  const diff = now - ms;
  const abs = Math.abs(diff);
  let text: string;
  if (abs < 45_000) return 'just now';
  if (abs < 60 * 60_000) text = `${Math.round(abs / 60_000)} min`;
  else if (abs < 48 * 60 * 60_000) text = `${Math.round(abs / (60 * 60_000))} h`;
  else text = `${Math.round(abs / (24 * 60 * 60_000))} days`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** A time as "5 min ago" with the exact UTC time beside it, or a dash. */
export function when(ms: number | null | undefined, now: number): Html {
  if (ms === null || ms === undefined) return html`<span class="muted">—</span>`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}" title="${utc(ms)}">${relative(ms, now)}</time><br><span class="muted small">${utc(ms)}</span>`;
}

/** A time in a table cell: "5 min ago", the exact time on hover. */
export function ago(ms: number | null | undefined, now: number): Html {
  if (ms === null || ms === undefined) return html`<span class="muted">—</span>`;
  return html`<time datetime="${new Date(ms).toISOString()}" title="${utc(ms)}">${relative(ms, now)}</time>`;
}

/** A long identifier cut to its first characters in monospace, whole on hover; or a dash. */
export function clipped(v: string | null | undefined, n = 10): Html {
  if (!v) return html`<span class="muted">—</span>`;
  return v.length <= n + 1
    ? html`<code>${v}</code>`
    : html`<code class="clip" title="${v}">${v.slice(0, n)}…</code>`;
}

/** A value in monospace, or a dash. */
export function mono(v: string | null | undefined): Html {
  return v ? html`<code>${v}</code>` : html`<span class="muted">—</span>`;
}

/** The first block of a UUID, with the whole id on hover. */
export function shortId(id: string): Html {
  return html`<code title="${id}">${id.slice(0, 8)}</code>`;
}

type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'off';

const STATUS_TONES: Record<string, Tone> = {
  active: 'ok',
  connected: 'ok',
  needs_reconnect: 'warn',
  disconnected: 'off',
  retiring: 'warn',
  removed: 'off',
  reconnected: 'ok',
  repaired: 'ok',
  rotated: 'ok',
  failed: 'bad',
  needs_attention: 'warn',
  orphan_suspected: 'warn',
  CONNECTED: 'ok',
  REPAIRED: 'ok',
  FAILED: 'bad',
  NEEDS_ATTENTION: 'warn',
  ORPHAN_SUSPECTED: 'warn',
  NEEDS_RECONNECT: 'warn',
};

export function badge(status: string): Html {
  const tone = STATUS_TONES[status] ?? 'info';
  return html`<span class="badge b-${tone}">${status.toLowerCase().replace(/_/g, ' ')}</span>`;
}

// --- the page shell -------------------------------------------------------------------------------------

export const STYLE = `*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f4f5f7}
a{color:#1d4ed8}
header{background:#14213d;color:#fff}
.bar{max-width:1160px;margin:0 auto;padding:.7rem 1.25rem;display:flex;align-items:center;gap:1.25rem;flex-wrap:wrap}
.brand{font-weight:700;color:#fff;text-decoration:none;font-size:1.05rem;letter-spacing:.01em}
.brand span{color:#feee00}
nav{display:flex;gap:.25rem;flex-wrap:wrap}
nav a{color:#cfd6e6;text-decoration:none;padding:.35rem .65rem;border-radius:6px}
nav a:hover{color:#fff}
nav a[aria-current=page]{background:rgba(255,255,255,.15);color:#fff}
.count{display:inline-block;min-width:1.35em;padding:0 .4em;margin-left:.35rem;border-radius:999px;background:#f59e0b;color:#1d2330;font-size:.75rem;font-weight:700;text-align:center}
.spacer{flex:1}
.who{color:#cfd6e6;font-size:.85rem;display:flex;gap:.75rem;align-items:center}
.who form{margin:0}
.who button{background:transparent;border-color:#5b6b8c;color:#fff;padding:.25rem .7rem;font-weight:500}
.dev{background:#feee00;color:#14213d;border-radius:5px;padding:.05rem .45rem;font-weight:700;font-size:.75rem}
main{max-width:1160px;margin:0 auto;padding:1.5rem 1.25rem 3rem}
h1{font-size:1.45rem;margin:.25rem 0 1rem}
h2{font-size:1.08rem;margin:1.75rem 0 .6rem}
p{margin:.4rem 0}
.lead{color:#4b5563;margin:-.5rem 0 1.25rem}
.card{background:#fff;border:1px solid #e2e5ea;border-radius:10px;padding:1.1rem 1.3rem;margin-bottom:1rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(15rem,1fr));gap:1rem;margin-bottom:1rem}
.stat{background:#fff;border:1px solid #e2e5ea;border-radius:10px;padding:.8rem 1.1rem}
.stat b{display:block;font-size:1.6rem;line-height:1.2}
.stat a{text-decoration:none;color:inherit}
.table{overflow-x:auto;border:1px solid #e2e5ea;border-radius:10px;background:#fff}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.55rem .75rem;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-size:.74rem;text-transform:uppercase;letter-spacing:.05em;color:#5b6475;background:#fafbfc;white-space:nowrap}
tr:last-child td{border-bottom:0}
td.nowrap{white-space:nowrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.84em;word-break:break-all}
.badge{display:inline-block;padding:.08rem .55rem;border-radius:999px;font-size:.76rem;font-weight:600;white-space:nowrap}
.b-ok{background:#dcfce7;color:#166534}.b-warn{background:#fef3c7;color:#92400e}.b-bad{background:#fee2e2;color:#991b1b}
.b-info{background:#dbeafe;color:#1e40af}.b-off{background:#e5e7eb;color:#374151}
.flash{padding:.75rem 1rem;border-radius:8px;margin-bottom:1.1rem;border:1px solid}
.flash-ok{background:#f0fdf4;border-color:#86efac;color:#14532d}
.flash-bad{background:#fef2f2;border-color:#fca5a5;color:#7f1d1d}
.flash-info{background:#eff6ff;border-color:#93c5fd;color:#1e3a8a}
button,.button{font:inherit;font-weight:600;padding:.45rem 1rem;border-radius:7px;border:1px solid #14213d;background:#14213d;color:#fff;cursor:pointer;text-decoration:none;display:inline-block;line-height:1.4}
button.secondary,.button.secondary{background:#fff;color:#14213d}
button.danger{background:#b91c1c;border-color:#b91c1c}
.button.danger-outline{background:#fff;border-color:#b91c1c;color:#b91c1c}
a.details{white-space:nowrap;font-weight:600;text-decoration:none}
td code{word-break:normal}
code.clip{white-space:nowrap}
td.wrap code{word-break:break-all}
.section-empty{background:#fff;border:1px dashed #d1d5db;border-radius:10px;padding:.7rem 1rem;color:#6b7280}
.all-clear{background:#f0fdf4;border:1px solid #86efac;color:#14532d;border-radius:10px;padding:.9rem 1.1rem;margin-bottom:1rem}
input[type=text],input[type=password]{font:inherit;padding:.45rem .65rem;border:1px solid #c5cad3;border-radius:7px;width:100%;max-width:22rem}
label{font-weight:600;display:block;margin-bottom:.3rem}
.row{display:flex;gap:.75rem;align-items:flex-end;flex-wrap:wrap}
.row>div{flex:0 1 22rem}
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:.5rem 1.75rem;margin:0}
dt{color:#5b6475}
dd{margin:0}
.muted{color:#6b7280}
.small{font-size:.8rem}
.actions{display:flex;gap:.6rem;flex-wrap:wrap;align-items:center}
.actions form{margin:0}
.empty{padding:1.5rem;text-align:center;color:#6b7280}
.filters{display:flex;gap:.4rem;flex-wrap:wrap;margin-bottom:.9rem}
.filters a{padding:.2rem .7rem;border:1px solid #d1d5db;border-radius:999px;text-decoration:none;color:#374151;background:#fff;font-size:.85rem}
.filters a[aria-current=page]{background:#14213d;border-color:#14213d;color:#fff}
.narrow{max-width:27rem;margin:4.5rem auto}
.narrow h1{margin-top:0}
.danger-zone{border-color:#fecaca}`;

export interface Flash {
  tone: 'ok' | 'bad' | 'info';
  text: string;
}

export interface Shell {
  title: string;
  /** The nav entry to highlight. */
  nav?: 'connections' | 'attempts' | 'attention' | 'events' | 'tokens' | 'audit';
  flash?: Flash | undefined;
  /** Number of attempts waiting for an operator (shown on the nav). */
  attention?: number;
  /** The signed-in header (nav, sign-out) or a bare page (sign-in). */
  chrome: 'full' | 'bare';
  /** Dev mode signed in with the secret made at this start: a badge beside the sign-out button. */
  dev?: boolean;
  /** CSRF token for the sign-out form. */
  csrf?: string;
  body: Html;
  /** Extra markup for <head> (a refresh). */
  head?: Html;
}

function navLink(href: string, label: string, current: boolean, count?: number): Html {
  return html`<a href="${href}"${current ? new Html(' aria-current="page"') : ''}>${label}${
    count ? html`<span class="count">${count}</span>` : ''
  }</a>`;
}

export function page(s: Shell): string {
  const header =
    s.chrome === 'full'
      ? html`<header><div class="bar"><a class="brand" href="/">noon<span>·</span>connect</a><nav>${[
          navLink('/', 'Connections', s.nav === 'connections'),
          navLink('/attempts', 'Attempts', s.nav === 'attempts'),
          navLink('/attention', 'Needs attention', s.nav === 'attention', s.attention),
          navLink('/events', 'Events', s.nav === 'events'),
          navLink('/tokens', 'API tokens', s.nav === 'tokens'),
          navLink('/audit', 'Audit log', s.nav === 'audit'),
        ]}</nav><div class="spacer"></div><div class="who">${
          s.dev
            ? html`<span class="dev">DEV</span><span>signed in with this start’s token</span>`
            : html`<span>Signed in as admin</span>`
        }<form method="post" action="/sign-out"><input type="hidden" name="csrf" value="${s.csrf ?? ''}"><button type="submit">Sign out</button></form></div></div></header>`
      : html`<header><div class="bar"><span class="brand">noon<span>·</span>connect</span></div></header>`;
  const flash = s.flash
    ? html`<div class="flash flash-${s.flash.tone}" role="status">${s.flash.text}</div>`
    : '';
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${s.title} · noon-connect</title>${s.head ?? ''}<style>${new Html(STYLE)}</style></head><body>${header}<main>${flash}${s.body}</main></body></html>`
    .value;
}
