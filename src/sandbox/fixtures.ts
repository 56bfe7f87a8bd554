// Fixtures: the integrator project with its service account and key, an OAuth client, and seller projects that
// work out of the box, or the same from a JSON config file; more can be added at runtime through the admin API.

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyFile, OAuthClient, Seller, ServiceAccount } from './model.js';
import { sha256Hex, type World } from './world.js';

export interface IntegratorConfig {
  project_code: string;
  name?: string;
  user_code?: string;
  channel_identifier?: string;
}

export interface ClientConfig {
  client_id: string;
  client_secret?: string;
  name?: string;
  project_code?: string;
  redirect_uris?: string[];
  permission?: string;
}

export interface SellerConfig {
  email: string;
  password?: string;
  name?: string;
  projects: { project_code: string; name?: string }[];
}

export interface SandboxConfig {
  integrators?: IntegratorConfig[];
  clients?: ClientConfig[];
  sellers?: SellerConfig[];
}

export const DEFAULT_REDIRECT_URI = 'http://127.0.0.1:8787/connect/callback';
export const DEFAULT_SELLER_PASSWORD = 'sandbox';

export const DEFAULT_CONFIG: Readonly<SandboxConfig> = Object.freeze({
  integrators: [
    {
      project_code: 'PRJ10001',
      name: 'Acme Integrations',
      user_code: 'usr_acme_integrator',
      channel_identifier: 'acme-integrator@p10001.idp.noon.partners',
    },
  ],
  clients: [
    {
      client_id: 'acme-connect',
      name: 'Acme Connect',
      project_code: 'PRJ10001',
      redirect_uris: [DEFAULT_REDIRECT_URI],
      permission: 'access:grant',
    },
  ],
  sellers: [
    {
      email: 'layla@sellers.example',
      name: 'Layla Traders',
      projects: [
        { project_code: 'PRJ20001', name: 'Layla Home' },
        { project_code: 'PRJ20002', name: 'Layla Fashion' },
      ],
    },
    {
      email: 'omar@sellers.example',
      name: 'Omar Electronics',
      projects: [{ project_code: 'PRJ20003', name: 'Omar Electronics' }],
    },
    {
      email: 'sara@sellers.example',
      name: 'Sara Beauty',
      projects: [{ project_code: 'PRJ20004', name: 'Sara Beauty' }],
    },
  ],
});

const PROJECT_CODE = /^[A-Za-z0-9_-]{1,64}$/;

function fail(msg: string): never {
  throw new TypeError(`sandbox config: ${msg}`);
}

function str(v: unknown, what: string, optional = false): string | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v === '') fail(`${what} must be a non-empty string`);
  return v;
}

/** Validates a config (from a file or the admin API), naming the first bad field. */
export function parseConfig(input: unknown): SandboxConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) fail('must be a JSON object');
  const c = input as Record<string, unknown>;
  const arr = (k: string): Record<string, unknown>[] => {
    const v = c[k];
    if (v === undefined) return [];
    if (!Array.isArray(v)) fail(`${k} must be an array`);
    return v.map((x, i) => {
      if (x === null || typeof x !== 'object') fail(`${k}[${i}] must be an object`);
      return x as Record<string, unknown>;
    });
  };
  const code = (v: unknown, what: string): string => {
    const s = str(v, what)!;
    if (!PROJECT_CODE.test(s)) fail(`${what} must match ${PROJECT_CODE}`);
    return s;
  };
  const out: SandboxConfig = {};
  if (c.integrators !== undefined) {
    out.integrators = arr('integrators').map((x, i) => ({
      project_code: code(x.project_code, `integrators[${i}].project_code`),
      ...optional('name', str(x.name, `integrators[${i}].name`, true)),
      ...optional('user_code', str(x.user_code, `integrators[${i}].user_code`, true)),
      ...optional(
        'channel_identifier',
        str(x.channel_identifier, `integrators[${i}].channel_identifier`, true),
      ),
    }));
  }
  if (c.clients !== undefined) {
    out.clients = arr('clients').map((x, i) => {
      const uris = x.redirect_uris;
      if (
        uris !== undefined &&
        (!Array.isArray(uris) || uris.some((u) => typeof u !== 'string' || !isAbsoluteUrl(u)))
      ) {
        fail(`clients[${i}].redirect_uris must be an array of absolute URLs`);
      }
      return {
        client_id: str(x.client_id, `clients[${i}].client_id`)!,
        ...optional('client_secret', str(x.client_secret, `clients[${i}].client_secret`, true)),
        ...optional('name', str(x.name, `clients[${i}].name`, true)),
        ...optional(
          'project_code',
          x.project_code === undefined ? undefined : code(x.project_code, `clients[${i}].project_code`),
        ),
        ...optional('redirect_uris', uris as string[] | undefined),
        ...optional('permission', str(x.permission, `clients[${i}].permission`, true)),
      };
    });
  }
  if (c.sellers !== undefined) {
    out.sellers = arr('sellers').map((x, i) => {
      if (!Array.isArray(x.projects) || x.projects.length === 0)
        fail(`sellers[${i}].projects must be a non-empty array`);
      return {
        email: str(x.email, `sellers[${i}].email`)!.toLowerCase(),
        ...optional('password', str(x.password, `sellers[${i}].password`, true)),
        ...optional('name', str(x.name, `sellers[${i}].name`, true)),
        projects: (x.projects as Record<string, unknown>[]).map((p, j) => ({
          project_code: code(p?.project_code, `sellers[${i}].projects[${j}].project_code`),
          ...optional('name', str(p?.name, `sellers[${i}].projects[${j}].name`, true)),
        })),
      };
    });
  }
  return out;
}

function optional<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

function isAbsoluteUrl(u: string): boolean {
  try {
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.hash;
  } catch {
    return false;
  }
}

export function loadConfigFile(path: string): SandboxConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TypeError(
      `sandbox config: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError(`sandbox config: ${path} is not valid JSON`);
  }
  return parseConfig(value);
}

export interface IntegratorFixture {
  projectCode: string;
  userCode: string;
  channelIdentifier: string;
  /** Where the key file was written, if one was. */
  keyFile: string | undefined;
  /** The key file (present only in the process that created the key). */
  key: KeyFile | undefined;
}

export interface ClientFixture {
  clientId: string;
  clientSecret: string;
  name: string;
  projectCode: string;
  redirectUris: string[];
}

export interface SellerFixture {
  email: string;
  password: string;
  name: string;
  projects: string[];
}

export interface Fixtures {
  integrators: IntegratorFixture[];
  clients: ClientFixture[];
  sellers: SellerFixture[];
  /** The first integrator, client and seller: what a quick start uses. */
  integrator: IntegratorFixture;
  client: ClientFixture;
  seller: SellerFixture;
}

export function ensureProject(world: World, code: string, name: string, kind: 'integrator' | 'seller'): void {
  if (!world.projects.get(code)) world.projects.put(code, { code, name, kind });
}

/** Adds an integrator project with its own service account and one key; idempotent by project code. */
export async function addIntegrator(
  world: World,
  cfg: IntegratorConfig,
  keyFilePath?: string,
): Promise<IntegratorFixture> {
  ensureProject(world, cfg.project_code, cfg.name ?? cfg.project_code, 'integrator');
  let account = [...world.accounts.values()].find(
    (a) => a.origin !== 'oauth' && a.ownerProject === cfg.project_code,
  );
  if (!account) {
    const digits = cfg.project_code.replace(/\D/g, '') || '0';
    account = {
      userCode: cfg.user_code ?? `usr_${world.random.bytes(6).toString('hex')}`,
      channelIdentifier: cfg.channel_identifier ?? `integrator-${digits}@p${digits}.idp.noon.partners`,
      ownerProject: cfg.project_code,
      projects: [cfg.project_code],
      name: `${cfg.name ?? cfg.project_code} service account`,
      createdAt: world.clock.now(),
      origin: 'fixture',
    } satisfies ServiceAccount;
    world.accounts.put(account.userCode, account);
  }
  let key: KeyFile | undefined;
  if (world.activeKeys(account.userCode).length === 0) {
    const issued = world.addKey(account, await world.pool.take(), 'fixture');
    if (issued) {
      key = issued.file;
      world.markDelivered(issued.ledger.seq);
      if (keyFilePath) writeKeyFile(keyFilePath, key);
    }
  }
  return {
    projectCode: cfg.project_code,
    userCode: account.userCode,
    channelIdentifier: account.channelIdentifier,
    keyFile: keyFilePath,
    key,
  };
}

export function writeKeyFile(path: string, key: KeyFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function addClient(world: World, cfg: ClientConfig, defaultProject: string): ClientFixture {
  const projectCode = cfg.project_code ?? defaultProject;
  const existingSecret = world.meta.get(`client-secret:${cfg.client_id}`);
  const clientSecret = cfg.client_secret ?? existingSecret ?? world.random.bytes(24).toString('base64url');
  const client: OAuthClient = {
    clientId: cfg.client_id,
    secretHash: sha256Hex(clientSecret),
    name: cfg.name ?? cfg.client_id,
    projectCode,
    redirectUris: cfg.redirect_uris ?? [DEFAULT_REDIRECT_URI],
    permission: cfg.permission ?? 'access:grant',
  };
  world.clients.put(client.clientId, client);
  // The sandbox keeps its fixture secret so it can print it again after a restart with --data.
  world.meta.put(`client-secret:${cfg.client_id}`, clientSecret);
  return {
    clientId: client.clientId,
    clientSecret,
    name: client.name,
    projectCode,
    redirectUris: client.redirectUris,
  };
}

export function addSeller(world: World, cfg: SellerConfig): SellerFixture {
  for (const p of cfg.projects) ensureProject(world, p.project_code, p.name ?? p.project_code, 'seller');
  const seller: Seller = {
    email: cfg.email.toLowerCase(),
    password: cfg.password ?? DEFAULT_SELLER_PASSWORD,
    name: cfg.name ?? cfg.email,
    projects: cfg.projects.map((p) => p.project_code),
  };
  world.sellers.put(seller.email, seller);
  return { email: seller.email, password: seller.password, name: seller.name, projects: seller.projects };
}
