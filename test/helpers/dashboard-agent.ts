// A browser for the dashboard in tests: one cookie jar, redirects returned (never followed), every answer
// recorded and added to a secret search; and the CSRF token of a page.

import type { SecretSearch } from './secret-search.js';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
  cookies: string[];
}

/** A browser for the dashboard: one cookie jar, redirects returned (never followed), every answer recorded. */
export class Agent {
  readonly cookies = new Map<string, string>();
  readonly answers: { where: string; answer: Answer }[] = [];

  constructor(
    readonly base: string,
    readonly search: SecretSearch,
  ) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async send(
    path: string,
    init: {
      method?: string;
      form?: Record<string, string>;
      headers?: Record<string, string>;
      /** Use the cookie jar (default true). */
      jar?: boolean;
      /** Add the answer to the secret search (default true); off for the redirect to noon, which must carry the state. */
      capture?: boolean;
    } = {},
  ): Promise<Answer> {
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (init.jar !== false && this.cookies.size > 0) headers.cookie = this.cookieHeader();
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    }
    const res = await fetch(url, {
      method: init.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      ...(body !== undefined ? { body } : {}),
      redirect: 'manual',
    });
    const answer: Answer = {
      status: res.status,
      headers: res.headers,
      text: await res.text(),
      location: res.headers.get('location'),
      cookies: res.headers.getSetCookie(),
    };
    if (init.jar !== false) {
      for (const c of answer.cookies) {
        const pair = c.split(';')[0]!;
        const eq = pair.indexOf('=');
        const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
        if (/max-age=0/i.test(c)) this.cookies.delete(name);
        else this.cookies.set(name, value);
        this.search.add('session cookie', value);
      }
    }
    const where = `${init.method ?? (body === undefined ? 'GET' : 'POST')} ${url}`;
    this.answers.push({ where, answer });
    if (init.capture !== false) {
      // Everything but Set-Cookie, the one place a cookie value belongs.
      const head: string[] = [];
      answer.headers.forEach((v, k) => {
        if (k !== 'set-cookie') head.push(`${k}: ${v}`);
      });
      this.search.capture(where, `status ${answer.status}\n${head.join('\n')}\n\n${answer.text}`);
    }
    return answer;
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
    return this.send(path, { headers });
  }

  post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
    return this.send(path, { form, headers });
  }
}

export function csrfIn(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF field on the page');
  return m[1]!;
}
