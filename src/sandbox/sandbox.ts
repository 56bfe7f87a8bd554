// createSandbox(): starts the local Noon emulator (consent page + API gateway + admin API on one origin, NC1)
// and hands back its controls.

import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createAdmin } from './admin.js';
import { AdjustableClock } from './clock.js';
import { type Context, DEFAULT_SWITCHES, type Switches } from './context.js';
import { issueCode } from './endpoints/consent.js';
import { type FaultSpec, Faults } from './faults.js';
import {
  addClient,
  addIntegrator,
  addSeller,
  type ClientConfig,
  type ClientFixture,
  DEFAULT_CONFIG,
  type Fixtures,
  type IntegratorConfig,
  type IntegratorFixture,
  loadConfigFile,
  parseConfig,
  type SandboxConfig,
  type SellerConfig,
  type SellerFixture,
} from './fixtures.js';
import { hostCheck } from './guard.js';
import { Journal } from './journal.js';
import { KeyPool } from './key-pool.js';
import type { LedgerEntry } from './model.js';
import { WindowCounter } from './rate-limit.js';
import { memoryRecords, sqliteRecords } from './records.js';
import { createListener, trackSockets } from './server.js';
import { cryptoRandomness, type LedgerQuery, type Randomness, World } from './world.js';

export interface SandboxOptions {
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** Serve https with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Keep state in this SQLite file instead of memory. */
  data?: string;
  /** Fixtures, or the path of a JSON file with them; default: one integrator, one client, three sellers. */
  config?: SandboxConfig | string;
  /** Where to write the first integrator's key file (default: beside `data`, else a fresh temp folder). */
  keyFile?: string;
  /** Pre-generated RSA keys kept ready (default 8). */
  poolSize?: number;
  /** Folder that keeps unused pool keys across runs. */
  keyCacheDir?: string;
  switches?: Partial<Switches>;
  /** Require `Authorization: Bearer <token>` on /_sandbox/. */
  adminToken?: string;
  clock?: AdjustableClock;
  random?: Randomness;
  /** Unexpected errors (never protocol errors); default: one line on stderr. */
  onError?: (err: unknown) => void;
}

export interface Ledger {
  entries(q?: LedgerQuery): LedgerEntry[];
  count(q?: LedgerQuery): number;
}

export interface Sandbox {
  /** The origin: consent page at `/`, gateway paths and `/_sandbox/` under it. */
  readonly url: string;
  readonly authorizeUrl: string;
  readonly gatewayUrl: string;
  readonly clock: AdjustableClock;
  readonly faults: Faults;
  readonly journal: Journal;
  readonly ledger: Ledger;
  readonly fixtures: Fixtures;
  readonly switches: Switches;
  readonly pool: KeyPool;
  readonly world: World;
  /**
   * The public half of the key that signs access tokens (SPKI PEM): read-only, so a caller can verify that an
   * `access_token` is the RS256 JWT the contract says (NC23). The private half never leaves the sandbox.
   */
  readonly signingPublicKeyPem: string;
  /** A consent without a browser: returns a fresh code for the client. */
  authorize(o?: {
    clientId?: string;
    email?: string;
    projectCode?: string;
    state?: string;
    redirectUri?: string;
  }): {
    code: string;
    state: string;
    location: string;
    oauthRequestId: string;
  };
  addFault(spec: FaultSpec): string;
  addIntegrator(cfg: IntegratorConfig): Promise<IntegratorFixture>;
  addClient(cfg: ClientConfig): ClientFixture;
  addSeller(cfg: SellerConfig): SellerFixture;
  setSwitches(patch: Partial<Switches>): void;
  close(): Promise<void>;
}

const SWITCH_CHECKS: Record<keyof Switches, (v: unknown) => boolean> = {
  requireUserAgent: (v) => typeof v === 'boolean',
  requireOAuthSession: (v) => typeof v === 'boolean',
  requireJsonContentType: (v) => typeof v === 'boolean',
  errorReasons: (v) => typeof v === 'boolean',
  exchangeReplay: (v) => typeof v === 'boolean',
  keyListing: (v) => typeof v === 'boolean',
  deactivateEndsSessions: (v) => typeof v === 'boolean',
  secondLoginEndsFirst: (v) => typeof v === 'boolean',
  redirectUriParam: (v) => typeof v === 'boolean',
  failedCodeLimit: (v) => v === null || isWindow(v),
  gatewayRateLimit: (v) => v === null || isWindow(v),
  apiUserPaths: (v) =>
    !!v &&
    typeof v === 'object' &&
    ['create', 'list', 'remove'].every(
      (k) =>
        typeof (v as Record<string, unknown>)[k] === 'string' &&
        String((v as Record<string, unknown>)[k]).startsWith('/'),
    ),
  maxBodyBytes: (v) => Number.isInteger(v) && (v as number) > 0,
};

function isWindow(v: unknown): boolean {
  if (!v || typeof v !== 'object') return false;
  const w = v as Record<string, unknown>;
  return (
    Number.isInteger(w.limit) &&
    (w.limit as number) > 0 &&
    Number.isInteger(w.windowMs) &&
    (w.windowMs as number) > 0
  );
}

export function validateSwitches(patch: unknown): Partial<Switches> {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch))
    throw new TypeError('switches must be an object');
  for (const [k, v] of Object.entries(patch)) {
    const check = SWITCH_CHECKS[k as keyof Switches];
    if (!check) throw new TypeError(`unknown switch ${k}`);
    if (!check(v)) throw new TypeError(`switch ${k} has a bad value`);
  }
  return patch as Partial<Switches>;
}

export async function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const clock = options.clock ?? new AdjustableClock();
  const random = options.random ?? cryptoRandomness;
  const switches: Switches = structuredClone({
    ...DEFAULT_SWITCHES,
    ...validateSwitches(options.switches ?? {}),
  });
  const config =
    typeof options.config === 'string'
      ? loadConfigFile(options.config)
      : parseConfig(options.config ?? DEFAULT_CONFIG);
  if (options.data) mkdirSync(dirname(options.data), { recursive: true, mode: 0o700 });
  const records = options.data ? sqliteRecords(options.data) : memoryRecords();
  const pool = new KeyPool({ size: options.poolSize ?? 8, cacheDir: options.keyCacheDir });
  const world = new World(records, clock, random, pool);
  const journal = new Journal();
  const faults = new Faults(() => random.fraction());

  // The sandbox's own signing key for access tokens; kept in the data file so tokens outlive a restart.
  let signingPem = world.meta.get('signing-key');
  if (!signingPem) {
    signingPem = (await pool.take()).privatePem;
    world.meta.put('signing-key', signingPem);
  }
  const signingKey = createPrivateKey(signingPem);
  const signingPublicKey = createPublicKey(signingKey);
  let csrfHex = world.meta.get('csrf-secret');
  if (!csrfHex) {
    csrfHex = random.bytes(32).toString('hex');
    world.meta.put('csrf-secret', csrfHex);
  }

  const keyFileDefault =
    options.keyFile ??
    (options.data
      ? join(dirname(options.data), 'integrator-key.json')
      : join(
          tmpdir(),
          `noon-connect-sandbox-${process.pid}-${random.bytes(4).toString('hex')}`,
          'integrator-key.json',
        ));

  const integrators: IntegratorFixture[] = [];
  for (const [i, cfg] of (config.integrators ?? []).entries()) {
    integrators.push(await addIntegrator(world, cfg, i === 0 ? keyFileDefault : undefined));
  }
  if (integrators.length === 0) throw new TypeError('sandbox config: at least one integrator is required');
  const clients = (config.clients ?? []).map((c) => addClient(world, c, integrators[0]!.projectCode));
  const sellers = (config.sellers ?? []).map((s) => addSeller(world, s));
  if (clients.length === 0 || sellers.length === 0)
    throw new TypeError('sandbox config: at least one client and one seller are required');
  const fixtures: Fixtures = {
    integrators,
    clients,
    sellers,
    integrator: integrators[0]!,
    client: clients[0]!,
    seller: sellers[0]!,
  };

  let origin = '';
  let failedCodes = switches.failedCodeLimit ? new WindowCounter(clock, switches.failedCodeLimit) : undefined;
  let gatewayLimiter = switches.gatewayRateLimit
    ? new WindowCounter(clock, switches.gatewayRateLimit)
    : undefined;
  const ctx: Context = {
    world,
    switches,
    signingKey,
    signingPublicKey,
    issuer: () => origin,
    get failedCodes() {
      return failedCodes;
    },
    csrfSecret: Buffer.from(csrfHex, 'hex'),
  };
  const applySwitches = (patch: Partial<Switches>) => {
    Object.assign(switches, structuredClone(validateSwitches(patch)));
    if ('failedCodeLimit' in patch)
      failedCodes = switches.failedCodeLimit ? new WindowCounter(clock, switches.failedCodeLimit) : undefined;
    if ('gatewayRateLimit' in patch)
      gatewayLimiter = switches.gatewayRateLimit
        ? new WindowCounter(clock, switches.gatewayRateLimit)
        : undefined;
  };
  const admin = createAdmin({
    world,
    clock,
    faults,
    journal,
    pool,
    fixtures,
    switches,
    applySwitches,
    adminToken: options.adminToken,
  });
  const listener = createListener({
    ctx,
    faults,
    journal,
    gatewayLimiter: () => gatewayLimiter,
    admin,
    hostAllowed: hostCheck(options.host ?? '127.0.0.1'),
    onError:
      options.onError ??
      ((e) =>
        process.stderr.write(
          `sandbox: unexpected ${e instanceof Error ? e.name : 'error'}: ${e instanceof Error ? e.message : ''}\n`,
        )),
  });
  const handler = (req: Parameters<typeof listener>[0], res: Parameters<typeof listener>[1]) => {
    listener(req, res).catch((e) => {
      options.onError?.(e);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler)
    : createHttpServer(handler);
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  const sockets = trackSockets(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  origin = `${options.tls ? 'https' : 'http'}://${host}:${addr.port}`;

  let closed: Promise<void> | undefined;
  const ledger: Ledger = {
    entries: (q) => world.ledger(q),
    count: (q) => world.ledger(q).length,
  };
  return {
    url: origin,
    authorizeUrl: `${origin}/`,
    gatewayUrl: origin,
    clock,
    faults,
    journal,
    ledger,
    fixtures,
    switches,
    pool,
    world,
    signingPublicKeyPem: signingPublicKey.export({ type: 'spki', format: 'pem' }).toString(),
    authorize(o = {}) {
      const client = world.clients.get(o.clientId ?? fixtures.client.clientId);
      if (!client) throw new TypeError('authorize: unknown clientId');
      const seller = o.email
        ? world.sellers.get(o.email.toLowerCase())
        : [...world.sellers.values()].find((s) =>
            o.projectCode ? s.projects.includes(o.projectCode) : true,
          );
      if (!seller) throw new TypeError('authorize: no seller matches');
      const projectCode = o.projectCode ?? seller.projects[0]!;
      // The same checks as the consent page and POST /_sandbox/authorize: a seller grants only its own projects,
      // and codes go only to a registered redirect URI.
      if (!seller.projects.includes(projectCode))
        throw new TypeError('authorize: the seller has no such project');
      const redirectUri = o.redirectUri ?? client.redirectUris[0]!;
      if (!client.redirectUris.includes(redirectUri))
        throw new TypeError('authorize: redirectUri is not registered for the client');
      const state = o.state ?? world.secret();
      const r = issueCode(world, client, seller, projectCode, redirectUri, state);
      return { code: r.code, state, location: r.location, oauthRequestId: r.oauthRequestId };
    },
    addFault: (spec) => faults.add(spec),
    async addIntegrator(cfg) {
      const fx = await addIntegrator(world, parseConfig({ integrators: [cfg] }).integrators![0]!);
      fixtures.integrators.push(fx);
      return fx;
    },
    addClient(cfg) {
      const parsed = parseConfig({ clients: [cfg] }).clients![0]!;
      // As POST /_sandbox/clients: a client belongs to a project that exists, else no session could own it.
      const owner = parsed.project_code ?? fixtures.integrator.projectCode;
      if (!world.projects.get(owner)) throw new TypeError(`addClient: no project ${owner}`);
      const fx = addClient(world, parsed, owner);
      fixtures.clients.push(fx);
      return fx;
    },
    addSeller(cfg) {
      const fx = addSeller(world, parseConfig({ sellers: [cfg] }).sellers![0]!);
      fixtures.sellers.push(fx);
      return fx;
    },
    setSwitches: applySwitches,
    close() {
      closed ??= (async () => {
        const done = new Promise<void>((r) => server.close(() => r()));
        for (const s of sockets) s.destroy();
        await done;
        await pool.close();
        records.close();
      })();
      return closed;
    },
  };
}
