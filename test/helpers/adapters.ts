// The HTTP adapters a connect handler can be served through, as test targets: node:http, Express 5 (at the root
// and mounted at the connect base path), Fastify 5 and Hono 4 (on a node:http bridge). Each framework app also
// has a route of its own, so a test can see that paths outside the connect endpoints fall through to the app.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { connectMiddleware } from '../../src/http/express.js';
import { registerConnectRoutes } from '../../src/http/fastify.js';
import { honoConnect } from '../../src/http/hono.js';
import { type ConnectHandler, sendWebResponse, toNodeListener, toWebRequest } from '../../src/http/index.js';
import { listen } from './net.js';

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

async function serve(server: Server): Promise<Served> {
  const l = await listen(server);
  return { server, origin: `http://127.0.0.1:${l.port}`, close: l.close };
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
  serve: (handler) => serve(createServer(toNodeListener(handler, appRoute))),
};

export const expressTarget: AdapterTarget = {
  name: 'express',
  serve: (handler) => {
    const app = express();
    app.use(connectMiddleware(handler));
    app.get(APP_ROUTE, (_req, res) => {
      res.type('text/plain').send(APP_BODY);
    });
    return serve(createServer(app));
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
    return serve(createServer(app));
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
    return serve(server);
  },
};

export const ADAPTER_TARGETS: readonly AdapterTarget[] = [
  nodeTarget,
  expressTarget,
  expressMountedTarget,
  fastifyTarget,
  honoTarget,
];
