// Express 5 with the connect endpoints: `node examples/express/server.mjs` (configuration: ../shared/noon.mjs).
// /login?user=acme signs in (a stand-in for your own auth), /connect/start sends the seller to noon, and the
// seller comes back to /settings/noon, which lists the tenant's connections.

import express from 'express';
import { createConnectHandler } from 'noon-connect/http';
import { connectMiddleware } from 'noon-connect/http/express';
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

const app = express();
app.use(connectMiddleware(handler));
app.get('/login', (req, res) => {
  res.cookie('user', String(req.query.user ?? ''), { httpOnly: true, sameSite: 'lax' }).redirect(303, '/');
});
app.get('/settings/noon', async (req, res) => {
  const tenant = tenantOf(req.headers.cookie);
  if (!tenant) return void res.status(401).send('sign in first\n');
  res.json({ status: req.query.connect_status ?? null, connections: await connectionsOf(tenant) });
});
app.get('/', (_req, res) => {
  res.type('html').send('<a href="/connect/start">Connect your noon account</a>');
});

const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', () => console.log(`express example on http://127.0.0.1:${port}`));
