// The seller's cookie jar, as a browser keeps one (RFC 6265 §5.3–5.4): host-only and domain cookies, paths,
// expiry and Secure. Loopback http counts as secure, as browsers treat localhost as a secure context.

interface Cookie {
  name: string;
  value: string;
  domain: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  expiresAt: number | undefined;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** RFC 6265 §5.1.4: the directory of the request path. */
function defaultPath(url: URL): string {
  const p = url.pathname;
  if (!p.startsWith('/') || p.lastIndexOf('/') === 0) return '/';
  return p.slice(0, p.lastIndexOf('/'));
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function domainMatches(host: string, c: Cookie): boolean {
  if (c.hostOnly) return host === c.domain;
  return host === c.domain || host.endsWith(`.${c.domain}`);
}

export class CookieJar {
  readonly #cookies = new Map<string, Cookie>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Takes the Set-Cookie lines of a response from `url`. */
  store(url: URL, setCookies: readonly string[]): void {
    for (const line of setCookies) this.#storeOne(url, line);
  }

  /** Adds a `name=value` cookie for the URL's host, as if it had set it with Path=/. */
  add(url: URL, pair: string): void {
    this.#storeOne(url, `${pair}; Path=/`);
  }

  #storeOne(url: URL, line: string): void {
    const [pair = '', ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const host = url.hostname.toLowerCase();
    const c: Cookie = {
      name: pair.slice(0, eq).trim(),
      value: pair.slice(eq + 1).trim(),
      domain: host,
      hostOnly: true,
      path: defaultPath(url),
      secure: false,
      expiresAt: undefined,
    };
    let maxAge: number | undefined;
    for (const a of attrs) {
      const i = a.indexOf('=');
      const key = (i < 0 ? a : a.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? '' : a.slice(i + 1).trim();
      if (key === 'path' && val.startsWith('/')) c.path = val;
      else if (key === 'secure') c.secure = true;
      else if (key === 'max-age' && /^-?\d+$/.test(val)) maxAge = Number(val);
      else if (key === 'expires') {
        const t = Date.parse(val);
        if (Number.isFinite(t)) c.expiresAt = t;
      } else if (key === 'domain' && val) {
        const d = val.replace(/^\./, '').toLowerCase();
        // A cookie for another site is refused, as a browser refuses it.
        if (host !== d && !host.endsWith(`.${d}`)) return;
        c.domain = d;
        c.hostOnly = false;
      }
    }
    if (maxAge !== undefined) c.expiresAt = this.#now() + maxAge * 1000;
    if (c.secure && url.protocol !== 'https:' && !isLoopbackHost(host)) return;
    const key = `${c.domain}|${c.path}|${c.name}`;
    if (c.expiresAt !== undefined && c.expiresAt <= this.#now()) this.#cookies.delete(key);
    else this.#cookies.set(key, c);
  }

  /** The Cookie header for a request to `url`, longest paths first; undefined when none applies. */
  header(url: URL): string | undefined {
    const host = url.hostname.toLowerCase();
    const now = this.#now();
    const secureOk = url.protocol === 'https:' || isLoopbackHost(host);
    const out = [...this.#cookies.values()]
      .filter(
        (c) =>
          (c.expiresAt === undefined || c.expiresAt > now) &&
          domainMatches(host, c) &&
          pathMatches(url.pathname, c.path) &&
          (!c.secure || secureOk),
      )
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`);
    return out.length > 0 ? out.join('; ') : undefined;
  }
}
