// Hono 4 with the connect endpoints: `node examples/hono/server.mjs` (configuration: ../shared/noon.mjs). Hono
// speaks Request → Response; here it runs on node:http through noon-connect's own bridge (with
// @hono/node-server, pass `app.fetch` to its `serve` instead). /login?user=acme signs in (a stand-in for your
// own auth), /connect/start sends the seller to noon, and the seller comes back to /settings/noon.

import { createServer } from 'node:http';
import { Hono } from 'hono';
import { createConnectHandler, sendWebResponse, toWebRequest } from 'noon-connect/http';
import { honoConnect } from 'noon-connect/http/hono';
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

const app = new Hono();
app.use('/connect/*', honoConnect(handler));
app.get('/login', (c) => {
  const user = (c.req.query('user') ?? '').replace(/[^A-Za-z0-9_-]/g, '');
  c.header('set-cookie', `user=${user}; HttpOnly; SameSite=Lax; Path=/`);
  return c.redirect('/', 303);
});
app.get('/settings/noon', async (c) => {
  const tenant = tenantOf(c.req.header('cookie'));
  if (!tenant) return c.text('sign in first\n', 401);
  return c.json({ status: c.req.query('connect_status') ?? null, connections: await connectionsOf(tenant) });
});
app.get('/', (c) => c.html('<a href="/connect/start">Connect your noon account</a>'));

const port = Number(process.env.PORT ?? 3000);
createServer((req, res) => {
  toWebRequest(req)
    .then((request) => app.fetch(request))
    .then((response) => sendWebResponse(res, response))
    .catch(() => res.destroy());
}).listen(port, '127.0.0.1', () => console.log(`hono example on http://127.0.0.1:${port}`));
