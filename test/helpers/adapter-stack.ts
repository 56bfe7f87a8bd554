// A connect stack served through any of the four HTTP adapters (node:http, Express 5, Fastify 5, Hono 4 on a
// node:http bridge), built from the same pieces as `startStack`: the sandbox, a store, a vault, the connector
// and its handler. Each framework app also has a route of its own, so a test can see that paths outside the
// connect endpoints fall through to the app.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { FetchLike } from '../../src/client/index.js';
import { type ConnectorOptions, createConnector } from '../../src/connect/index.js';
import { connectMiddleware } from '../../src/http/express.js';
import { registerConnectRoutes } from '../../src/http/fastify.js';
import { type ConnectHandler, createConnectHandler, type StartParams } from '../../src/http/handler.js';
import { honoConnect } from '../../src/http/hono.js';
import { sendWebResponse, toNodeListener, toWebRequest } from '../../src/http/node.js';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/index.js';
import { noonParts, type Stack, startFromQuery, testConnectorOptions } from './connect.js';
import { startSandbox } from './sandbox.js';
import { freshStoreWithVault } from './stores.js';

/** The app's own route, served by every framework beside the connect endpoints. */
export const APP_ROUTE = '/app/hello';
export const APP_BODY = 'the app answered';

export interface Served {
  server: Server;
  origin: string;
  close(): Promise<void>;
}

export interface AdapterTarget {
  name: 'node' | 'express' | 'express-mounted' | 'fastify' | 'hono';
  serve(handler: ConnectHandler): Promise<Served>;
}

async function listen(server: Server): Promise<Served> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function appRoute(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === APP_ROUTE && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(APP_BODY);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
}

export const nodeTarget: AdapterTarget = {
  name: 'node',
  serve: (handler) => listen(createServer(toNodeListener(handler, appRoute))),
};

export const expressTarget: AdapterTarget = {
  name: 'express',
  serve: (handler) => {
    const app = express();
    app.use(connectMiddleware(handler));
    app.get(APP_ROUTE, (_req, res) => {
      res.type('text/plain').send(APP_BODY);
    });
    return listen(createServer(app));
  },
};

/** Express with the middleware mounted at the connect base path, where Express rewrites `req.url`. */
export const expressMountedTarget: AdapterTarget = {
  name: 'express-mounted',
  serve: (handler) => {
    const app = express();
    app.use('/connect', connectMiddleware(handler));
    app.get(APP_ROUTE, (_req, res) => {
      res.type('text/plain').send(APP_BODY);
    });
    return listen(createServer(app));
  },
};

export const fastifyTarget: AdapterTarget = {
  name: 'fastify',
  serve: async (handler) => {
    const app = Fastify({ logger: false });
    registerConnectRoutes(app, handler);
    app.get(APP_ROUTE, async (_req, reply) => reply.type('text/plain').send(APP_BODY));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    return {
      server: app.server,
      origin: `http://127.0.0.1:${port}`,
      async close() {
        app.server.closeAllConnections();
        await app.close();
      },
    };
  },
};

/** Hono's own `fetch` behind a small node:http bridge made of the node adapter's two conversions. */
export const honoTarget: AdapterTarget = {
  name: 'hono',
  serve: (handler) => {
    const app = new Hono();
    app.use('*', honoConnect(handler));
    app.get(APP_ROUTE, (c) => c.text(APP_BODY));
    const server = createServer((req, res) => {
      toWebRequest(req)
        .then((request) => app.fetch(request))
        .then((r) => sendWebResponse(res, r))
        .catch(() => {
          if (!res.headersSent) res.writeHead(500);
          res.end();
        });
    });
    return listen(server);
  },
};

export const ADAPTER_TARGETS: readonly AdapterTarget[] = [
  nodeTarget,
  expressTarget,
  expressMountedTarget,
  fastifyTarget,
  honoTarget,
];

export interface BuildOptions {
  store?: 'sqlite' | 'postgres';
  /** Serve through this adapter (default node:http). */
  target?: AdapterTarget;
  sandbox?: SandboxOptions;
  /** Reuse an existing sandbox (it is not closed with the stack). */
  sandboxInstance?: Sandbox;
  connector?: Partial<ConnectorOptions>;
  /** Wraps the connect handler before it is served (e.g. to add headers of the app's own). */
  wrapHandler?: (h: ConnectHandler) => ConnectHandler;
  authorizeStart?: (request: Request) => Promise<StartParams | Response> | StartParams | Response;
  /** Keep every body Noon answered with (to search event payloads for secrets). */
  captureWire?: boolean;
}

export interface BuiltStack extends Stack {
  target: AdapterTarget['name'];
  /** Bodies of every Noon response, when `captureWire` was set. */
  wire: string[];
  /** The integrator-side Noon parts the connector uses (to act upstream "outside" the connector). */
  parts: ReturnType<typeof clientParts>;
}

/** Integrator-side client parts, optionally with a fetch that keeps every response body. */
export function clientParts(
  sb: Sandbox,
  clientId: string,
  clientSecret: string,
  logs: unknown[],
  wire?: string[],
) {
  const capture: FetchLike | undefined = wire
    ? async (url, init) => {
        const r = await fetch(url, init);
        wire.push(await r.clone().text());
        return r;
      }
    : undefined;
  return noonParts(sb, clientId, clientSecret, logs, capture ? { fetch: capture } : {});
}

/** A whole stack whose connector is served through `o.target`; `connectSeller` works on it as on `startStack`. */
export async function buildStack(o: BuildOptions = {}): Promise<BuiltStack> {
  const target = o.target ?? nodeTarget;
  const sb = o.sandboxInstance ?? (await startSandbox(o.sandbox));
  const logs: unknown[] = [];
  const wire: string[] = [];
  const { store, vault, masterKey, file, drop: dropStore } = await freshStoreWithVault(o.store);

  // The server starts first so the OAuth client can be registered with its callback URL.
  let handler: ConnectHandler | undefined;
  const served = await target.serve(async (req) => handler!(req));
  const callbackUrl = `${served.origin}/connect/callback`;
  const client = sb.addClient({
    client_id: `c-${randomBytes(4).toString('hex')}`,
    name: `Test Connect (${target.name})`,
    redirect_uris: [callbackUrl],
  });
  const parts = clientParts(sb, client.clientId, client.clientSecret, logs, o.captureWire ? wire : undefined);
  const connector = await createConnector({
    noon: parts,
    store,
    vault,
    ...testConnectorOptions(sb, served.origin, logs),
    ...o.connector,
  });
  const inner = createConnectHandler({
    connector,
    authorizeStart: o.authorizeStart ?? startFromQuery,
  });
  handler = o.wrapHandler ? o.wrapHandler(inner) : inner;
  return {
    target: target.name,
    wire,
    parts,
    sb,
    store,
    vault,
    connector,
    server: served.server,
    origin: served.origin,
    callbackUrl,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    logs,
    masterKey,
    ...(file ? { file } : {}),
    async close() {
      await served.close();
      await connector.drain();
      await store.close();
      await dropStore();
      if (!o.sandboxInstance) await sb.close();
    },
  };
}
