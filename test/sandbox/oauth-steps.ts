// Steps of the server-to-server OAuth calls against a running sandbox, for the token, exchange and API User
// Service tests: every response is captured so a test can search what it received for secrets, and every
// secret the steps handle (client secret, codes, access tokens, cookies, login JWTs, private keys) is remembered.

import { DEFAULT_SWITCHES, type KeyFile, type Sandbox } from '../../src/sandbox/index.js';
import { type GatewayResponse, gw, loginJwt } from '../helpers/sandbox.js';

export const TOKEN_CREATE = '/identity/oauth/v1/token/create';
export const TOKEN_EXCHANGE = '/identity/oauth/v1/token/exchange';
export const LOGIN = '/identity/public/v1/api/login';
export const WHOAMI = '/identity/v1/whoami';
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface CapturedResponse {
  path: string;
  status: number;
  cacheControl: string | null;
  text: string;
}

type CallInit = Parameters<typeof gw>[2];

/** The reason of a gRPC-gateway error body (NC37), or undefined. */
export function reason(r: GatewayResponse): string | undefined {
  return r.json?.details?.[0]?.reason;
}

export class OAuthSteps {
  readonly responses: CapturedResponse[] = [];
  readonly secrets = new Set<string>();
  readonly privateKeys: string[] = [];
  #sellers = 0;

  constructor(
    readonly sb: Sandbox,
    readonly tag: string,
  ) {
    this.secrets.add(sb.fixtures.client.clientSecret);
  }

  /** One gateway request, captured. */
  async call(path: string, init: CallInit = {}): Promise<GatewayResponse> {
    const r = await gw(this.sb, path, init);
    this.responses.push({
      path,
      status: r.status,
      cacheControl: r.headers.get('cache-control'),
      text: r.text,
    });
    return r;
  }

  /** Logs in with a key file (NC5); the JWT and both cookies are remembered as secrets. */
  async login(key: KeyFile, projectCode = key.project_code): Promise<string> {
    const token = await loginJwt(key, { nowS: Math.floor(this.sb.clock.now() / 1000) });
    this.secrets.add(token);
    const r = await this.call(LOGIN, { body: { token, default_project_code: projectCode } });
    if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.text}`);
    const pairs = r.cookies.map((c) => c.split(';')[0]!);
    for (const p of pairs) this.secrets.add(p.slice(p.indexOf('=') + 1));
    return pairs.join('; ');
  }

  /** A seller with one project of its own, so each flow can start with a service account that has no keys. */
  freshSellerProject(): string {
    const n = ++this.#sellers;
    const project = `PRJ${this.tag}${String(n).padStart(3, '0')}`;
    this.sb.addSeller({
      email: `seller-${this.tag}-${n}@sellers.example`,
      projects: [{ project_code: project, name: `Seller ${n}` }],
    });
    return project;
  }

  /** An approved consent (no browser): a fresh code for the client and seller project. */
  code(o: { clientId?: string; projectCode?: string } = {}): { code: string; oauthRequestId: string } {
    const r = this.sb.authorize({
      ...(o.clientId !== undefined ? { clientId: o.clientId } : {}),
      ...(o.projectCode !== undefined ? { projectCode: o.projectCode } : {}),
    });
    this.secrets.add(r.code);
    return { code: r.code, oauthRequestId: r.oauthRequestId };
  }

  /** token/create with the fixture client unless the body says otherwise. */
  async create(
    cookie: string | undefined,
    body: Record<string, unknown>,
    client = this.sb.fixtures.client,
  ): Promise<GatewayResponse> {
    this.secrets.add(client.clientSecret);
    const r = await this.call(TOKEN_CREATE, {
      ...(cookie !== undefined ? { cookie } : {}),
      body: {
        grant_type: 'authorization_code',
        client_id: client.clientId,
        client_secret: client.clientSecret,
        ...body,
      },
    });
    if (typeof r.json?.access_token === 'string') this.secrets.add(r.json.access_token);
    return r;
  }

  /** A code redeemed at once: the access token for the seller project. */
  async accessToken(
    cookie: string,
    o: { clientId?: string; projectCode?: string } = {},
  ): Promise<{ accessToken: string; oauthRequestId: string }> {
    const client = this.sb.fixtures.clients.find(
      (c) => c.clientId === (o.clientId ?? this.sb.fixtures.client.clientId),
    )!;
    const { code, oauthRequestId } = this.code(o);
    const r = await this.create(cookie, { code }, client);
    if (r.status !== 200) throw new Error(`token/create failed: ${r.status} ${r.text}`);
    return { accessToken: r.json.access_token as string, oauthRequestId };
  }

  async exchange(cookie: string | undefined, accessToken: unknown): Promise<GatewayResponse> {
    const r = await this.call(TOKEN_EXCHANGE, {
      ...(cookie !== undefined ? { cookie } : {}),
      body: { access_token: accessToken },
    });
    this.remember(r);
    return r;
  }

  /** Remembers a private key a response carried. */
  remember(r: GatewayResponse): void {
    const pem = r.json?.result?.private_key ?? r.json?.private_key;
    if (typeof pem === 'string') this.privateKeys.push(pem);
  }

  /** A whole connection: code, access token, exchange; the key file. */
  async connect(cookie: string, o: { clientId?: string; projectCode?: string } = {}): Promise<KeyFile> {
    const { accessToken } = await this.accessToken(cookie, o);
    const r = await this.exchange(cookie, accessToken);
    if (r.status !== 200 || r.json?.status?.code !== 0) throw new Error(`exchange failed: ${r.status}`);
    return r.json.result as KeyFile;
  }

  /** A fresh window for the failed-code limiter (NC38), so failures in one test do not throttle the next. */
  resetFailureWindow(): void {
    this.sb.setSwitches({ failedCodeLimit: { ...DEFAULT_SWITCHES.failedCodeLimit! } });
  }

  /**
   * What may never hold a secret: every journal entry, every error body received, and what the admin API shows
   * about the journal, ledger, accounts and OAuth requests. Returns the secrets found (none expected).
   */
  async leakedSecrets(): Promise<string[]> {
    const texts = [
      ...this.sb.journal.entries().map((e) => JSON.stringify(e)),
      ...this.responses.filter((r) => r.status >= 400).map((r) => r.text),
    ];
    for (const p of ['/_sandbox/journal', '/_sandbox/ledger', '/_sandbox/accounts', '/_sandbox/requests']) {
      texts.push((await gw(this.sb, p)).text);
    }
    const haystack = texts.join('\n');
    const needles = [...this.secrets];
    for (const pem of this.privateKeys) needles.push(...pemLines(pem));
    const found = needles.filter((s) => haystack.includes(s));
    if (haystack.includes('PRIVATE KEY')) found.push('PRIVATE KEY');
    return found;
  }
}

/** The base64 lines of a PEM: any one of them found elsewhere means the key leaked. */
export function pemLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));
}
