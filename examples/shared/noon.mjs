// The connector every example embeds, configured from the environment. Copy this file into your app.
//
//   NOON_ENV               production | noon-sandbox | local (a noon-connect sandbox at NOON_LOCAL_URL)
//   NOON_LOCAL_URL         the sandbox's URL when NOON_ENV=local (`noon-connect sandbox` prints it)
//   NOON_CLIENT_ID, NOON_CLIENT_SECRET   your OAuth client; register <APP_PUBLIC_URL>/connect/callback with it
//   NOON_KEY_FILE          your integrator service-account key file
//   APP_PUBLIC_URL         where browsers reach this app, e.g. http://127.0.0.1:3000
//   APP_DATABASE           the SQLite file the connections are kept in (default ./connect.db)
//   APP_MASTER_KEY         the master key (make one: noon-connect vault keygen)

import { loadCredentials, NoonApiUsers, NoonClient, NoonOAuth, NoonSession } from 'noon-connect/client';
import { createConnector } from 'noon-connect/connect';
import { createSqliteStore } from 'noon-connect/store';
import { LocalKeyProvider, parseKeyConfig, Vault } from 'noon-connect/vault';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required (see examples/README.md)`);
  return v;
}

const env = required('NOON_ENV');
const environment = env === 'local' ? { local: required('NOON_LOCAL_URL') } : env;

const store = await createSqliteStore({ database: process.env.APP_DATABASE ?? 'connect.db' });
const vault = await Vault.open({
  provider: new LocalKeyProvider(parseKeyConfig(required('APP_MASTER_KEY'))),
  meta: {
    get: (n) => store.getMeta(n),
    set: (n, v) => store.setMeta(n, v),
    setIfAbsent: (n, v) => store.setMetaIfAbsent(n, v),
  },
});
const client = new NoonClient({ environment, userAgent: 'acme-connect-example/1.0' });
const integrator = new NoonSession(client, await loadCredentials(required('NOON_KEY_FILE')));

export const connector = await createConnector({
  noon: {
    client,
    oauth: new NoonOAuth({
      session: integrator,
      clientId: required('NOON_CLIENT_ID'),
      clientSecret: required('NOON_CLIENT_SECRET'),
    }),
    apiUsers: new NoonApiUsers({ session: integrator }),
  },
  store,
  vault,
  environment: env === 'production' ? 'production' : 'sandbox',
  publicUrl: required('APP_PUBLIC_URL'),
  returnPaths: ['/', '/settings/noon'],
});

// Finish whatever a crash interrupted, now and every minute.
await connector.reconcile();
setInterval(() => connector.reconcile().catch(() => {}), 60_000).unref();

/**
 * Who is connecting. A real app takes the tenant from its own signed-in user; the examples use a `user` cookie
 * that `/login?user=…` sets, which stands for your session. Never take the tenant from the query string.
 */
export function tenantOf(cookieHeader) {
  const m = /(?:^|;\s*)user=([A-Za-z0-9_-]{1,64})(?:;|$)/.exec(cookieHeader ?? '');
  return m ? m[1] : undefined;
}

/** The connections of a tenant, as the examples' /settings/noon page lists them (metadata only, never a key). */
export async function connectionsOf(tenant) {
  return (await connector.listConnections({ tenant })).map((c) => ({
    id: c.id,
    seller_project: c.sellerProject,
    status: c.status,
  }));
}
