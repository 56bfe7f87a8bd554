// Fastify 5 with the connect endpoints: `node examples/fastify/server.mjs` (configuration: ../shared/noon.mjs).
// /login?user=acme signs in (a stand-in for your own auth), /connect/start sends the seller to noon, and the
// seller comes back to /settings/noon, which lists the tenant's connections.

import Fastify from 'fastify';
import { createConnectHandler } from 'noon-connect/http';
import { registerConnectRoutes } from 'noon-connect/http/fastify';
import { connectionsOf, connector, tenantOf } from '../shared/noon.mjs';

const handler = createConnectHandler({
  connector,
  authorizeStart: (request) => {
    const tenant = tenantOf(request.headers.get('cookie'));
    if (!tenant) return new Response('sign in first\n', { status: 401 });
    return { tenant, returnTo: '/settings/noon' };
  },
  onError: (e) => console.error('connect error', e),
});

const app = Fastify({ logger: false });
registerConnectRoutes(app, handler);
app.get('/login', async (req, reply) => {
  const user = String(req.query.user ?? '').replace(/[^A-Za-z0-9_-]/g, '');
  return reply.header('set-cookie', `user=${user}; HttpOnly; SameSite=Lax; Path=/`).redirect('/', 303);
});
app.get('/settings/noon', async (req, reply) => {
  const tenant = tenantOf(req.headers.cookie);
  if (!tenant) return reply.code(401).send('sign in first\n');
  return { status: req.query.connect_status ?? null, connections: await connectionsOf(tenant) };
});
app.get('/', async (_req, reply) =>
  reply.type('text/html').send('<a href="/connect/start">Connect your noon account</a>'),
);

const port = Number(process.env.PORT ?? 3000);
await app.listen({ port, host: '127.0.0.1' });
console.log(`fastify example on http://127.0.0.1:${port}`);
