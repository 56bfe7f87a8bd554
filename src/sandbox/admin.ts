// The admin JSON API under /_sandbox/: clock, faults, ledger, journal, fixtures, switches and a programmatic
// consent, the same controls createSandbox() hands an in-process caller.

import { timingSafeEqual } from 'node:crypto';
import type { AdjustableClock } from './clock.js';
import type { Switches } from './context.js';
import { issueCode, issueDenial } from './endpoints/consent.js';
import { AdminTokenRequired, InvalidArgument, MethodNotAllowed, NotFound } from './errors.js';
import type { Faults } from './faults.js';
import { addClient, addIntegrator, addSeller, type Fixtures, parseConfig } from './fixtures.js';
import { checkAdminRequest } from './guard.js';
import { json, type SandboxRequest, type SandboxResponse } from './http.js';
import type { Journal } from './journal.js';
import type { KeyPool } from './key-pool.js';
import type { LedgerEntry } from './model.js';
import type { World } from './world.js';

export interface AdminDeps {
  world: World;
  clock: AdjustableClock;
  faults: Faults;
  journal: Journal;
  pool: KeyPool;
  fixtures: Fixtures;
  switches: Switches;
  applySwitches: (patch: Partial<Switches>) => void;
  adminToken: string | undefined;
}

function body(req: SandboxRequest): Record<string, unknown> {
  if (req.body.length === 0) return {};
  try {
    const v: unknown = JSON.parse(req.body.toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {}
  throw new InvalidArgument('admin requests take a JSON object body');
}

function num(q: URLSearchParams, k: string): number | undefined {
  const v = q.get(k);
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgument(`${k} must be a number`);
  return n;
}

function asTypeError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TypeError) throw new InvalidArgument(e.message);
    throw e;
  }
}

export function createAdmin(d: AdminDeps): (req: SandboxRequest) => Promise<SandboxResponse> {
  return async (req) => {
    // H7: no page of another origin, and JSON bodies only (a cross-site form or text/plain post needs no preflight).
    checkAdminRequest(req);
    if (d.adminToken !== undefined) {
      const presented = Buffer.from(String(req.headers.authorization ?? ''));
      const expected = Buffer.from(`Bearer ${d.adminToken}`);
      if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
        // RFC 6750 §3: a missing or wrong bearer token is a 401 that names the scheme.
        throw new AdminTokenRequired(undefined, {
          'www-authenticate': 'Bearer realm="noon-connect sandbox"',
        });
      }
    }
    const path = req.path.replace(/\/+$/, '') || '/_sandbox';
    // HEAD reads like GET; server.ts leaves the body out.
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const route = `${method} ${path}`;
    const q = req.query;
    const faultId = /^\/_sandbox\/faults\/([^/]+)$/.exec(path)?.[1];
    if (faultId !== undefined && method === 'DELETE') {
      if (!d.faults.remove(faultId)) throw new NotFound('no such fault');
      return json(200, {});
    }
    switch (route) {
      case 'GET /_sandbox':
      case 'GET /_sandbox/status':
        return json(200, {
          clock: d.clock.now(),
          pool: d.pool.stats(),
          faults: d.faults.list().length,
          journal: d.journal.lastSeq,
        });
      case 'GET /_sandbox/clock':
        return json(200, {
          now: d.clock.now(),
          iso: new Date(d.clock.now()).toISOString(),
          offset_ms: d.clock.offsetMs,
        });
      case 'POST /_sandbox/clock/advance': {
        const b = body(req);
        const ms =
          typeof b.ms === 'number' ? b.ms : typeof b.seconds === 'number' ? b.seconds * 1000 : Number.NaN;
        const now = asTypeError(() => d.clock.advance(ms));
        return json(200, { now, iso: new Date(now).toISOString(), offset_ms: d.clock.offsetMs });
      }
      case 'GET /_sandbox/faults':
        return json(200, { faults: d.faults.list() });
      case 'POST /_sandbox/faults': {
        const id = asTypeError(() => d.faults.add(body(req) as never));
        return json(201, { id });
      }
      case 'DELETE /_sandbox/faults':
        d.faults.clear();
        return json(200, {});
      case 'GET /_sandbox/ledger': {
        const via = q.get('via');
        const delivered = q.get('delivered');
        if (via !== null && !LEDGER_VIA.includes(via as LedgerEntry['via']))
          throw new InvalidArgument(`via must be one of ${LEDGER_VIA.join(', ')}`);
        if (delivered !== null && delivered !== 'true' && delivered !== 'false')
          throw new InvalidArgument('delivered must be true or false');
        return json(200, {
          credentials: d.world.ledger({
            ...(q.get('owner_project') ? { ownerProject: q.get('owner_project')! } : {}),
            ...(q.get('seller_project') ? { sellerProject: q.get('seller_project')! } : {}),
            ...(via ? { via: via as LedgerEntry['via'] } : {}),
            ...(delivered ? { delivered: delivered === 'true' } : {}),
          }),
        });
      }
      case 'GET /_sandbox/journal': {
        const status = num(q, 'status');
        const since = num(q, 'since');
        return json(200, {
          entries: d.journal.entries({
            ...(q.get('endpoint') ? { endpoint: q.get('endpoint')! } : {}),
            ...(q.get('method') ? { method: q.get('method')! } : {}),
            ...(status !== undefined ? { status } : {}),
            ...(since !== undefined ? { sinceSeq: since } : {}),
            ...(q.get('seller_project') ? { sellerProject: q.get('seller_project')! } : {}),
          }),
        });
      }
      case 'DELETE /_sandbox/journal':
        d.journal.clear();
        return json(200, {});
      case 'GET /_sandbox/fixtures':
        return json(200, publicFixtures(d.fixtures));
      case 'GET /_sandbox/requests':
        return json(200, {
          requests: [...d.world.requests.values()].sort((a, b) => a.createdAt - b.createdAt),
        });
      case 'GET /_sandbox/accounts': {
        const project = q.get('project');
        const accounts = [...d.world.accounts.values()]
          .filter((a) => !project || a.ownerProject === project || a.projects.includes(project))
          .map((a) => ({
            ...a,
            keys: d.world.accountKeys(a.userCode).map(({ publicKeyPem: _p, ...k }) => k),
          }));
        return json(200, { accounts });
      }
      case 'GET /_sandbox/switches':
        return json(200, d.switches);
      case 'PATCH /_sandbox/switches':
      case 'POST /_sandbox/switches':
        asTypeError(() => d.applySwitches(body(req) as Partial<Switches>));
        return json(200, d.switches);
      case 'POST /_sandbox/integrators': {
        const cfg = asTypeError(() => parseConfig({ integrators: [body(req)] }).integrators![0]!);
        const fx = await addIntegrator(d.world, cfg);
        d.fixtures.integrators.push(fx);
        return json(201, {
          project_code: fx.projectCode,
          user_code: fx.userCode,
          channel_identifier: fx.channelIdentifier,
          key: fx.key,
        });
      }
      case 'POST /_sandbox/clients': {
        const b = body(req);
        if (b.client_id === undefined) b.client_id = `client-${d.world.random.bytes(4).toString('hex')}`;
        const cfg = asTypeError(() => parseConfig({ clients: [b] }).clients![0]!);
        const owner = cfg.project_code ?? d.fixtures.integrator.projectCode;
        if (!d.world.projects.get(owner)) throw new InvalidArgument(`no project ${owner}`);
        const fx = addClient(d.world, cfg, owner);
        d.fixtures.clients.push(fx);
        return json(201, {
          client_id: fx.clientId,
          client_secret: fx.clientSecret,
          project_code: fx.projectCode,
          redirect_uris: fx.redirectUris,
        });
      }
      case 'POST /_sandbox/sellers': {
        const cfg = asTypeError(() => parseConfig({ sellers: [body(req)] }).sellers![0]!);
        const fx = addSeller(d.world, cfg);
        d.fixtures.sellers.push(fx);
        return json(201, { email: fx.email, password: fx.password, projects: fx.projects });
      }
      case 'POST /_sandbox/authorize': {
        // A consent without a browser: for tests, benchmarks and `noon-connect check`, which need codes (or a
        // denial, with `decision: "deny"`).
        const b = body(req);
        if (b.decision !== undefined && b.decision !== 'approve' && b.decision !== 'deny')
          throw new InvalidArgument('decision must be approve or deny');
        for (const k of ['client_id', 'email', 'project_code', 'redirect_uri', 'state']) {
          if (b[k] !== undefined && typeof b[k] !== 'string')
            throw new InvalidArgument(`${k} must be a string`);
        }
        const client = d.world.clients.get(String(b.client_id ?? d.fixtures.client.clientId));
        if (!client) throw new NotFound('unknown client_id');
        const email = typeof b.email === 'string' ? b.email.toLowerCase() : undefined;
        const project = typeof b.project_code === 'string' ? b.project_code : undefined;
        const seller = email
          ? d.world.sellers.get(email)
          : [...d.world.sellers.values()].find((s) => (project ? s.projects.includes(project) : true));
        if (!seller) throw new NotFound('no seller matches');
        const projectCode = project ?? seller.projects[0]!;
        if (!seller.projects.includes(projectCode))
          throw new InvalidArgument('the seller has no such project');
        const redirectUri = typeof b.redirect_uri === 'string' ? b.redirect_uri : client.redirectUris[0]!;
        if (!client.redirectUris.includes(redirectUri))
          throw new InvalidArgument('redirect_uri is not registered');
        const state = typeof b.state === 'string' ? b.state : d.world.secret();
        if (b.decision === 'deny') {
          const denied = issueDenial(d.world, client, projectCode, redirectUri, state);
          return json(201, { state, location: denied.location });
        }
        const out = issueCode(d.world, client, seller, projectCode, redirectUri, state);
        return json(201, {
          code: out.code,
          state,
          location: out.location,
          oauth_request_id: out.oauthRequestId,
        });
      }
      case 'GET /_sandbox/pool':
        return json(200, d.pool.stats());
      default: {
        const allowed = ADMIN_ROUTES.filter((r) => r.endsWith(` ${path}`)).map((r) => r.split(' ')[0]!);
        if (faultId !== undefined) allowed.push('DELETE');
        if (allowed.length > 0)
          throw new MethodNotAllowed(`use ${allowed.join(' or ')}`, { allow: allowed.join(', ') });
        throw new NotFound(`no admin route ${route.slice(0, 120)}`);
      }
    }
  };
}

const LEDGER_VIA: readonly LedgerEntry['via'][] = ['fixture', 'exchange', 'api_users.create', 'admin'];

/** Every admin route as `METHOD path`, so a known path asked with another method answers 405, not 404. */
const ADMIN_ROUTES = [
  'GET /_sandbox',
  'GET /_sandbox/status',
  'GET /_sandbox/clock',
  'POST /_sandbox/clock/advance',
  'GET /_sandbox/faults',
  'POST /_sandbox/faults',
  'DELETE /_sandbox/faults',
  'GET /_sandbox/ledger',
  'GET /_sandbox/journal',
  'DELETE /_sandbox/journal',
  'GET /_sandbox/fixtures',
  'GET /_sandbox/requests',
  'GET /_sandbox/accounts',
  'GET /_sandbox/switches',
  'PATCH /_sandbox/switches',
  'POST /_sandbox/switches',
  'POST /_sandbox/integrators',
  'POST /_sandbox/clients',
  'POST /_sandbox/sellers',
  'POST /_sandbox/authorize',
  'GET /_sandbox/pool',
] as const;

/** Fixtures as the admin API shows them (the sandbox's own test material, including the client secret). */
export function publicFixtures(f: Fixtures) {
  return {
    integrators: f.integrators.map((i) => ({
      project_code: i.projectCode,
      user_code: i.userCode,
      channel_identifier: i.channelIdentifier,
      key_file: i.keyFile ?? null,
    })),
    clients: f.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      name: c.name,
      project_code: c.projectCode,
      redirect_uris: c.redirectUris,
    })),
    sellers: f.sellers.map((s) => ({
      email: s.email,
      password: s.password,
      name: s.name,
      projects: s.projects,
    })),
  };
}
