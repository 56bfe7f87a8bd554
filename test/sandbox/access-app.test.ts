// The Access App views: the OAuth tab follows each request through its statuses, and the project pages list
// service accounts and key ids but never a private key (NC31).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import {
  authorizeUrl,
  decide,
  decodeEntities,
  fetchPage,
  openConsent,
  signInSeller,
} from '../helpers/browser.js';
import { gw, integratorLogin, startSandbox } from '../helpers/sandbox.js';

let sb: Sandbox;
let integratorCookie: string;
let laylaCookie: string;
const unexpected: unknown[] = [];

beforeAll(async () => {
  sb = await startSandbox({ poolSize: 2, onError: (e) => unexpected.push(e) });
  integratorCookie = await integratorLogin(sb);
  laylaCookie = await signInSeller(sb, acme('setup'), sb.fixtures.seller);
});

afterAll(async () => {
  await sb?.close();
});

function acme(state: string): string {
  return authorizeUrl(sb, { client_id: sb.fixtures.client.clientId, state });
}

interface Row {
  id: string;
  client: string;
  seller: string;
  sellerLink: string | undefined;
  integrator: string;
  status: string;
}

function text(cell: string): string {
  return decodeEntities(cell.replace(/<br>/g, ' ').replace(/<[^>]+>/g, '')).trim();
}

/** The OAuth tab's rows, read from its table. */
async function oauthRows(): Promise<Row[]> {
  const page = await fetchPage(`${sb.url}/access/oauth`);
  expect(page.status).toBe(200);
  const body = page.text.match(/<tbody>([\s\S]*)<\/tbody>/)?.[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => {
    const cells = [...m[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1]!);
    return {
      id: text(cells[0]!),
      client: text(cells[1]!),
      seller: text(cells[2]!),
      sellerLink: cells[2]!.match(/href="([^"]*)"/)?.[1],
      integrator: text(cells[3]!),
      status: text(cells[4]!),
    };
  });
}

async function rowFor(id: string): Promise<Row> {
  const row = (await oauthRows()).find((r) => r.id === id);
  if (!row) throw new Error(`no row for ${id}`);
  return row;
}

/** Approves or denies through the consent form; returns the redirect and the OAuth request it created. */
async function consent(
  state: string,
  decision: 'approve' | 'deny',
  change: Record<string, string> = {},
): Promise<{ location: URL; requestId: string }> {
  const before = new Set((await oauthRows()).map((r) => r.id));
  const { form } = await openConsent(acme(state), laylaCookie);
  const res = await decide(sb, form, laylaCookie, decision, change);
  expect(res.status).toBe(303);
  const created = (await oauthRows()).filter((r) => !before.has(r.id));
  expect(created).toHaveLength(1);
  return { location: new URL(res.location!), requestId: created[0]!.id };
}

function tokenCreate(code: string) {
  return gw(sb, '/identity/oauth/v1/token/create', {
    cookie: integratorCookie,
    body: {
      grant_type: 'authorization_code',
      code,
      client_id: sb.fixtures.client.clientId,
      client_secret: sb.fixtures.client.clientSecret,
    },
  });
}

describe('Access App', () => {
  it('NC31 the OAuth tab starts empty and says so', async () => {
    expect(await oauthRows()).toEqual([]);
    const page = await fetchPage(`${sb.url}/access/oauth`);
    expect(page.text).toContain('No OAuth requests yet');
  });

  it('NC31 the OAuth tab follows a request: AUTHORIZED → TOKEN_ISSUED → COMPLETED, with its projects', async () => {
    const { location, requestId } = await consent('s-life', 'approve', { project_code: 'PRJ20002' });
    let row = await rowFor(requestId);
    expect(row).toMatchObject({
      client: `Acme Connect ${sb.fixtures.client.clientId}`,
      seller: 'PRJ20002',
      sellerLink: '/access/projects/PRJ20002',
      integrator: sb.fixtures.integrator.projectCode,
      status: 'AUTHORIZED',
    });
    expect(row.id).toMatch(/^[0-9a-f-]{36}$/);

    const created = await tokenCreate(location.searchParams.get('code')!);
    expect(created.status).toBe(200);
    expect((await rowFor(requestId)).status).toBe('TOKEN_ISSUED');

    const exchanged = await gw(sb, '/identity/oauth/v1/token/exchange', {
      cookie: integratorCookie,
      body: { access_token: created.json.access_token },
    });
    expect(exchanged.status).toBe(200);
    // The id the exchange hands back names this very row.
    expect(exchanged.json.oauth_request_id).toBe(requestId);
    row = await rowFor(requestId);
    expect(row.status).toBe('COMPLETED');

    // The seller project's page lists the new service account and its key id, never the private key.
    const key = exchanged.json.result;
    const project = await fetchPage(`${sb.url}${row.sellerLink}`);
    expect(project.status).toBe(200);
    expect(project.text).toContain(key.key_id);
    expect(project.text).toContain(key.channel_identifier);
    expect(project.text).not.toContain('PRIVATE KEY');
    const pemBody = (key.private_key as string).split('\n').filter((l) => l && !l.startsWith('-----'));
    expect(pemBody.length).toBeGreaterThan(5);
    for (const line of pemBody) expect(project.text).not.toContain(line);
    // The integrator project, owner of that account, lists it too, next to its own fixture key.
    const integrator = await fetchPage(`${sb.url}/access/projects/${sb.fixtures.integrator.projectCode}`);
    expect(integrator.text).toContain(key.key_id);
    expect(integrator.text).toContain(sb.fixtures.integrator.key!.key_id);
    expect(integrator.text).not.toContain('PRIVATE KEY');
    for (const page of [project, integrator, await fetchPage(`${sb.url}/access/oauth`)]) {
      expect(page.text).not.toContain(created.json.access_token);
      expect(page.text).not.toContain(sb.fixtures.client.clientSecret);
    }
  });

  it('NC31 a denial is listed as DENIED; one without a valid project choice has no project link', async () => {
    const { location, requestId } = await consent('s-deny', 'deny', { project_code: 'PRJ20001' });
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(await rowFor(requestId)).toMatchObject({ seller: 'PRJ20001', status: 'DENIED' });

    const other = await consent('s-deny-2', 'deny', { project_code: 'PRJ99999' });
    const row = await rowFor(other.requestId);
    expect(row).toMatchObject({ seller: '—', status: 'DENIED' });
    expect(row.sellerLink).toBeUndefined();
    const page = await fetchPage(`${sb.url}/access/oauth`);
    expect(page.text).not.toContain('href="/access/projects/"');
  });

  it('NC26 NC31 reusing a code shows its request as REVOKED', async () => {
    const { location, requestId } = await consent('s-reuse', 'approve');
    const code = location.searchParams.get('code')!;
    expect((await tokenCreate(code)).status).toBe(200);
    expect((await tokenCreate(code)).status).toBe(400);
    expect((await rowFor(requestId)).status).toBe('REVOKED');
  });

  it('NC31 an unknown project or a malformed path → 404 page, never a crash', async () => {
    for (const path of ['PRJ99999', '%E0%A4%A', '%', '..%2F..%2Fetc', '']) {
      const res = await fetchPage(`${sb.url}/access/projects/${path}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    }
    expect(unexpected).toEqual([]);
  });

  it('NC19 NC31 Access App pages carry the page headers and escape every value', async () => {
    sb.addSeller({
      email: 'mallory@sellers.example',
      name: 'Mallory',
      projects: [{ project_code: 'PRJ20066', name: '<script>alert("p")</script>' }],
    });
    sb.addClient({ client_id: 'xss-client', name: '<img src=x onerror=alert(1)>' });
    sb.authorize({ clientId: 'xss-client', email: 'mallory@sellers.example', projectCode: 'PRJ20066' });
    const oauth = await fetchPage(`${sb.url}/access/oauth`);
    const project = await fetchPage(`${sb.url}/access/projects/PRJ20066`);
    const missing = await fetchPage(`${sb.url}/access/projects/%3Cscript%3E`);
    for (const res of [oauth, project, missing]) {
      expect(res.text).not.toMatch(/<script|<img/i);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    expect(oauth.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(project.text).toContain('&lt;script&gt;alert(&quot;p&quot;)&lt;/script&gt;');
    expect(missing.text).toContain('&lt;script&gt;');
  });
});
