// The ready-to-run service: wires config → store → vault → Noon client → connector, serves the connect
// endpoints, the dashboard, the REST API and the operations endpoints, runs the reconciler and the webhook
// worker, and shuts down gracefully (in-flight callbacks finish first).

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { loadCredentials, NoonClient, type NoonLogEntry } from '../client/index.js';
import { type Connector, createConnector, WebhookWorker } from '../connect/index.js';
import { badTargetResponse, createConnectHandler, isPlainTarget } from '../http/index.js';
import { lightResponse } from '../http/light-response.js';
import { requestPath, sendWebResponse, toWebRequest } from '../http/node.js';
import { openStore, type Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';
import { BEARER_CHALLENGE, bearerToken, clientAddress, secretMatcher } from './access.js';
import { createApiHandler } from './api/index.js';
import { type Audit, auditLog } from './audit.js';
import type { ServiceConfig } from './config.js';
import { serviceStartAuthorizer } from './connect-start.js';
import { createDashboardHandler } from './dashboard/index.js';
import { LEASES, Leases } from './leases.js';
import { StoreLimits } from './limits.js';
import { ConnectLinks } from './links.js';
import { createLogger } from './logging.js';
import { checkMasterKeySafety } from './master-key-safety.js';
import { type ServiceMetrics, serviceMetrics, upstreamEndpointLabel } from './metrics.js';
import { requestSlot } from './request-slot.js';
import { Scheduler } from './scheduler.js';
import { ApiTokens } from './tokens.js';
import { internalErrorResponse, notFoundResponse } from './views.js';
import {
  closeKeyProvider,
  connectorOptions,
  integratorParts,
  noonEnvironment,
  openKeyProvider,
  openVaultOn,
  type ServiceKeyProvider,
  storeFailure,
} from './wiring.js';

/**
 * The secrets requests are checked against: the configured tokens or, in dev mode without them, a secret made
 * at each start (`devToken`) that stands in for the missing ones.
 */
export interface ServiceAccess {
  adminToken: string | undefined;
  apiToken: string | undefined;
  devToken: string | undefined;
}

/** What the dashboard and the REST API share. */
export interface ServiceContext {
  config: ServiceConfig;
  connector: Connector;
  store: Store;
  logger: Logger;
  metrics: ServiceMetrics;
  links: ConnectLinks;
  access: ServiceAccess;
  /** Limits counted in the store (every instance together). */
  limits: StoreLimits;
  /** Per-tenant API tokens (hashed in the store). */
  tokens: ApiTokens;
  /** The audit log (in the store). */
  audit: Audit;
  /** Leases for work one instance does at a time. */
  leases: Leases;
  /** The dashboard's CSRF key, shared by every instance (derived from the sealed link key). */
  dashboardKey: Buffer;
  /** The client address of a request (the socket's, or through the configured trusted proxies). */
  clientAddress(request: Request): string;
  now(): number;
}

/** One part of the service's routes: a Response for its paths, undefined for any other. */
export type RouteHandler = (request: Request) => Promise<Response | undefined>;

/** A running service (see {@link createService}). */
export interface Service {
  readonly url: string;
  readonly context: ServiceContext;
  /** Web Request → Response for every route. */
  fetch(request: Request): Promise<Response>;
  /** Stops accepting, lets in-flight callbacks finish, stops the workers, closes the store. */
  close(): Promise<void>;
  /** Runs the reconciler once now (whatever the lease says). */
  reconcile(): ReturnType<Connector['reconcile']>;
  /** The scheduled operations (health checks, rotation policy); `tick()` runs one round now. */
  readonly scheduler: Scheduler;
  /** Dev mode without tokens: the secret made at this start, which signs in and authorizes API calls. */
  readonly devToken: string | undefined;
  /** Dev mode without an admin token: the link that signs a browser in (printed by `noon-connect dev`). */
  readonly signInUrl: string | undefined;
}

/** What a caller (usually a test) may inject into {@link createService}. */
export interface ServiceDeps {
  /** Start the HTTP listener (default true). */
  listen?: boolean;
  clock?: { now(): number };
  logDestination?: NodeJS.WritableStream;
  /** Log in to Noon at start so a bad key or unreachable gateway stops start-up (default true). */
  verifyNoonLogin?: boolean;
  /** Start the scheduled operations' timer (default true; tests run `scheduler.tick()` themselves). */
  startScheduler?: boolean;
  /** Extra hooks for tests. */
  stepHook?: Parameters<typeof createConnector>[0]['stepHook'];
}

/**
 * Start-up refused: `code` names what failed (the master key, the store, the integrator's key file, Noon, or
 * the listener) and the message gives the cause in one line, never a secret.
 */
export class StartupError extends Error {
  constructor(
    message: string,
    readonly code: 'MASTER_KEY' | 'STORE' | 'KEY_FILE' | 'NOON' | 'LISTEN',
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function json(status: number, body: unknown): Response {
  return lightResponse(JSON.stringify(body), status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...SECURITY_HEADERS,
  });
}

/**
 * Starts the service: checks the master key, opens the store and the vault, loads the integrator's key file,
 * logs in to Noon, builds the connector, serves the connect endpoints, dashboard, REST API and operations
 * endpoints, and starts the reconciler and the webhook worker. Refuses with a {@link StartupError} (or the
 * {@link ConfigError} of {@link parseConfig}) and writes nothing when something is wrong.
 *
 * @example
 * ```ts
 * import { createService, parseConfig } from 'noon-connect/service';
 *
 * const service = await createService(parseConfig(process.env));
 * console.log(`serving on ${service.url}`);
 * process.once('SIGTERM', () => service.close());
 * ```
 */
export async function createService(config: ServiceConfig, deps: ServiceDeps = {}): Promise<Service> {
  const logger = createLogger({
    format: config.logFormat,
    level: config.logLevel,
    ...(deps.logDestination ? { destination: deps.logDestination } : {}),
  });
  const now = deps.clock ? () => deps.clock!.now() : Date.now;
  const metrics = serviceMetrics();

  // Master key first: without the right one nothing else may start, and nothing is written (K5). A key that is
  // not random, or a key file others may read, is refused before it is used (H6).
  try {
    await checkMasterKeySafety(config);
  } catch (e) {
    throw new StartupError(`master key: ${(e as Error).message}`, 'MASTER_KEY');
  }
  let provider: ServiceKeyProvider;
  try {
    provider = await openKeyProvider(config);
  } catch (e) {
    throw new StartupError(`master key: ${(e as Error).message}`, 'MASTER_KEY');
  }
  let store: Store;
  try {
    store = await openStore(config.storeUrl);
  } catch (e) {
    closeKeyProvider(provider);
    throw new StartupError(`store: cannot open (${storeFailure(e, config.storeUrl)})`, 'STORE');
  }
  const fail = async (e: StartupError): Promise<never> => {
    await store.close().catch(() => {});
    closeKeyProvider(provider);
    throw e;
  };
  let vault: Vault;
  try {
    vault = await openVaultOn(store, provider);
  } catch (e) {
    return fail(new StartupError(`master key: ${(e as Error).message}`, 'MASTER_KEY'));
  }

  let credentials: Awaited<ReturnType<typeof loadCredentials>>;
  try {
    credentials = await loadCredentials(config.keyFile);
  } catch (e) {
    return fail(new StartupError(`integrator key file: ${(e as Error).message}`, 'KEY_FILE'));
  }
  const upstreamLog = (e: NoonLogEntry) => {
    if (e.event === 'response' && e.durationMs !== undefined) {
      metrics.upstreamLatency.observe(
        { endpoint: upstreamEndpointLabel(e.endpoint), status: String(e.status ?? 0) },
        e.durationMs / 1000,
      );
    }
    const level = e.level === 'warn' ? 'warn' : 'debug';
    logger[level](
      {
        upstream: e.endpoint,
        event: e.event,
        status: e.status,
        requestId: e.requestId,
        why: e.why,
        code: e.code,
      },
      `noon ${e.endpoint} ${e.event}`,
    );
  };
  let client: NoonClient;
  try {
    client = new NoonClient({
      environment: noonEnvironment(config),
      userAgent: config.userAgent,
      logger: upstreamLog,
      ...(deps.clock ? { clock: deps.clock } : {}),
    });
  } catch (e) {
    return fail(new StartupError(`noon: ${(e as Error).message}`, 'NOON'));
  }
  const noon = integratorParts(config, client, credentials);
  const integrator = noon.integrator;
  if (deps.verifyNoonLogin ?? true) {
    try {
      await integrator.login();
    } catch (e) {
      return fail(
        new StartupError(
          `noon: integrator login failed (${(e as { code?: string }).code ?? 'error'})`,
          'NOON',
        ),
      );
    }
  }
  let connector: Connector;
  try {
    connector = await createConnector({
      ...connectorOptions(config, { noon, store, vault, logger, provider }),
      retention: { afterMs: config.retentionMs },
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.stepHook ? { stepHook: deps.stepHook } : {}),
      onEvent: (e) => {
        if (e.type === 'connected' || e.type === 'reconnected') metrics.connectsCompleted.inc();
        if (e.type === 'failed') metrics.connectsFailed.inc({ code: e.data.error_code ?? 'unknown' });
        if (e.type === 'repaired') metrics.repairs.inc();
      },
    });
  } catch (e) {
    return fail(new StartupError(`connector: ${(e as Error).message}`, 'NOON'));
  }
  metrics.orphans.collectWith(() => store.countAttempts(['ORPHAN_SUSPECTED', 'NEEDS_RECONNECT']));
  metrics.needsAttention.collectWith(() => store.countAttempts(['NEEDS_ATTENTION'], { unresolved: true }));

  const links = await ConnectLinks.create({
    store,
    vault,
    publicUrl: config.publicUrl,
    now,
    ttlMs: config.linkTtlMs,
    maxStarts: config.linkMaxStarts,
  });
  // H1: without tokens, dev mode is guarded by a secret made now; a same-host proxy cannot supply it.
  const devToken =
    config.mode === 'dev' && (config.adminToken === undefined || config.apiToken === undefined)
      ? randomBytes(32).toString('base64url')
      : undefined;
  const access: ServiceAccess = {
    adminToken: config.adminToken ?? devToken,
    apiToken: config.apiToken ?? devToken,
    devToken,
  };
  // The socket address of each request the listener hands on (requests made in process have none).
  const socketAddresses = requestSlot<string>('socket-address');
  let warnedForwardedFor = false;
  const context: ServiceContext = {
    config,
    connector,
    store,
    logger,
    metrics,
    links,
    access,
    limits: new StoreLimits(store, now),
    tokens: new ApiTokens(store, now),
    audit: auditLog(store, logger, now),
    leases: new Leases(store, now),
    dashboardKey: links.derivedKey('dashboard-csrf'),
    clientAddress: (request) => {
      const forwardedFor = request.headers.get('x-forwarded-for');
      if (forwardedFor !== null && config.trustedProxies === 0 && !warnedForwardedFor) {
        // Behind a proxy that is not counted, every client has the proxy's address and shares its limits.
        warnedForwardedFor = true;
        logger.warn(
          'requests carry X-Forwarded-For but NOON_CONNECT_TRUSTED_PROXIES is 0: every client behind that proxy counts as one address for limits; set it to the number of proxies in front',
        );
      }
      return clientAddress(socketAddresses.get(request), forwardedFor, config.trustedProxies);
    },
    now,
  };

  const connectHandler = createConnectHandler({
    connector,
    authorizeStart: serviceStartAuthorizer(context),
    onError: (e) =>
      logger.error({ code: (e as { code?: string }).code ?? (e as Error).name }, 'connect handler error'),
  });
  const api = createApiHandler(context);
  const dashboard = createDashboardHandler(context);

  const scrapeTokenMatches = secretMatcher(access.apiToken);
  let ready = true;
  let draining = false;
  const fetchHandler = async (request: Request): Promise<Response> => {
    const path = requestPath(request);
    try {
      if (path === '/healthz') return json(200, { status: 'ok' });
      if (path === '/readyz') {
        if (draining) return json(503, { status: 'draining' });
        try {
          await store.ping();
        } catch {
          return json(503, { status: 'store unavailable' });
        }
        return json(ready ? 200 : 503, { status: ready ? 'ready' : 'starting' });
      }
      if (path === '/metrics') {
        // With an API token configured, scrapes must present it (Prometheus: authorization.credentials).
        const token = bearerToken(request);
        if (access.apiToken !== undefined && (token === undefined || !scrapeTokenMatches(token))) {
          return lightResponse('unauthorized\n', 401, {
            'content-type': 'text/plain;charset=UTF-8',
            'www-authenticate': BEARER_CHALLENGE,
            'cache-control': 'no-store',
          });
        }
        return lightResponse(await metrics.registry.render(), 200, {
          'content-type': 'text/plain; version=0.0.4',
          'cache-control': 'no-store',
        });
      }
      const r = (await connectHandler(request)) ?? (await api(request)) ?? (await dashboard(request));
      if (r) return r;
      return notFoundResponse(request);
    } catch (e) {
      logger.error({ code: (e as { code?: string }).code ?? (e as Error).name, path }, 'unhandled error');
      return internalErrorResponse();
    }
  };

  // Background work: the reconciler on start and periodically; the webhook worker.
  const reconcile = async () => {
    try {
      const r = await connector.reconcile();
      if (r.failed + r.resumed + r.orphans + r.repaired + r.retiredKeys > 0)
        logger.info({ ...r }, 'reconciler pass');
      return r;
    } catch (e) {
      logger.warn({ code: (e as { code?: string }).code ?? (e as Error).name }, 'reconciler pass failed');
      throw e;
    }
  };
  // One instance of the deployment runs a pass per interval: the lease (held a little less than the interval)
  // saves the others the duplicate work; two passes at once would still be safe (every step is compare-and-set).
  const reconcileLeaseMs = Math.max(500, config.reconcileIntervalMs - 500);
  const leasedPass = async () => {
    await context.leases.runOnce(LEASES.reconcile, reconcileLeaseMs, async () => {
      await reconcile();
      const at = now();
      await store
        .purgeServiceState({ now: at, auditBefore: at - config.retentionMs, limit: 1000 })
        .catch((e) =>
          logger.warn({ code: (e as { code?: string }).code ?? (e as Error).name }, 'session purge failed'),
        );
    });
  };
  let reconciling: Promise<unknown> | undefined;
  const reconcileInBackground = () => {
    // One pass at a time in this process; close() waits for the one running.
    reconciling ??= leasedPass()
      .catch(() => {})
      .finally(() => {
        reconciling = undefined;
      });
  };
  const reconcileTimer = setInterval(reconcileInBackground, config.reconcileIntervalMs);
  reconcileTimer.unref();
  reconcileInBackground();
  const webhooks =
    config.webhookUrls.length > 0
      ? new WebhookWorker({
          store,
          secret: config.webhookSecret!,
          ...(deps.clock ? { clock: deps.clock } : {}),
        })
      : undefined;
  webhooks?.start();
  const scheduler = new Scheduler({
    store,
    connector,
    apiUsers: noon.apiUsers,
    leases: context.leases,
    logger,
    audit: context.audit,
    now,
    settings: config,
    webhookEndpoints: config.webhookUrls,
  });
  if (deps.startScheduler ?? true) scheduler.start();

  let server: Server | undefined;
  let url = config.publicUrl;
  let inFlight = 0;
  const headers: Record<string, string> = { ...SECURITY_HEADERS };
  // H8: browsers that reached the public URL over https keep to https (behind a TLS-terminating proxy too).
  if (config.publicUrl.startsWith('https:') && config.hstsMaxAge > 0)
    headers['strict-transport-security'] = `max-age=${config.hstsMaxAge}`;
  const headerEntries = Object.entries(headers);
  if (deps.listen ?? true) {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      inFlight++;
      res.once('close', () => inFlight--);
      for (const [k, v] of headerEntries) res.setHeader(k, v);
      // H5: `//connect/api/…` must not become host `connect` and path `/api/…`; nothing is routed from it.
      if (!isPlainTarget(req.url ?? '/')) {
        sendWebResponse(res, badTargetResponse()).catch(() => res.end());
        return;
      }
      toWebRequest(req, config.publicUrl)
        .then((request) => {
          if (req.socket.remoteAddress) socketAddresses.set(request, req.socket.remoteAddress);
          return fetchHandler(request);
        })
        .then((r) => sendWebResponse(res, r))
        .catch(() => {
          if (!res.headersSent) res.writeHead(500);
          res.end();
        });
    });
    server.headersTimeout = 15_000;
    server.requestTimeout = 30_000;
    try {
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(config.port, config.host, () => resolve());
      });
    } catch (e) {
      clearInterval(reconcileTimer);
      await scheduler.stop();
      await webhooks?.stop();
      return fail(
        new StartupError(
          `cannot listen on ${config.host}:${config.port} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
          'LISTEN',
        ),
      );
    }
    const addr = server.address() as AddressInfo;
    url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${addr.port}`;
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    context,
    devToken,
    signInUrl:
      devToken !== undefined && config.adminToken === undefined
        ? `${config.publicUrl}/sign-in?token=${devToken}`
        : undefined,
    fetch: fetchHandler,
    reconcile: () => connector.reconcile(),
    scheduler,
    close() {
      closing ??= (async () => {
        draining = true;
        ready = false;
        const closed = server ? new Promise<void>((r) => server!.close(() => r())) : Promise.resolve();
        server?.closeIdleConnections();
        await connector.drain();
        // Requests already being answered finish (a callback whose exchange is slow included), up to 30 s.
        const deadline = Date.now() + 30_000;
        while (inFlight > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
          server?.closeIdleConnections();
        }
        clearInterval(reconcileTimer);
        await reconciling;
        await scheduler.stop();
        await webhooks?.stop();
        server?.closeAllConnections();
        await closed;
        await client.close().catch(() => {});
        await store.close();
        closeKeyProvider(provider);
        logger.info('stopped');
      })();
      return closing;
    },
  };
}
