// Graceful shutdown of `noon-connect serve`: SIGTERM while a callback's token/exchange is in flight (the sandbox
// delays it 2 s). The key must be stored, the browser must get its 303, and the process must exit 0.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/sandbox/index.js';
import { runCli } from '../helpers/cli.js';
import { randomToken } from '../helpers/harness.js';
import { freePort } from '../helpers/net.js';
import { startSandbox } from '../helpers/sandbox.js';
import { beginConnect } from '../helpers/seller-flow.js';
import { childEnv, openServiceStore } from '../helpers/service-ops.js';
import { tempDir } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

let sb: Sandbox;

beforeAll(async () => {
  sb = await startSandbox();
});

afterAll(async () => {
  await sb?.close();
});

describe('noon-connect serve: graceful shutdown', () => {
  it('SIGTERM during a callback whose exchange takes 2 s: the key is stored, the browser gets its 303, exit 0', async () => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const client = sb.addClient({
      client_id: `svc-${randomBytes(4).toString('hex')}`,
      name: 'Shutdown Test',
      redirect_uris: [`${publicUrl}/connect/callback`],
    });
    const env = {
      NOON_CONNECT_MODE: 'production',
      NOON_CONNECT_PORT: String(port),
      NOON_CONNECT_PUBLIC_URL: publicUrl,
      NOON_ENV: 'local',
      NOON_LOCAL_URL: sb.url,
      NOON_CLIENT_ID: client.clientId,
      NOON_CLIENT_SECRET: client.clientSecret,
      NOON_KEY_FILE: sb.fixtures.integrator.keyFile!,
      NOON_CONNECT_STORE: `sqlite:${join(tempDir('nc-shutdown-'), 'connect.db')}`,
      NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64'),
      NOON_CONNECT_ADMIN_TOKEN: randomToken('admin'),
      NOON_CONNECT_API_TOKEN: randomToken('api'),
      NOON_CONNECT_LOG: 'json',
      NOON_CONNECT_LOG_LEVEL: 'info',
    };
    const serve = runCli(['serve'], childEnv(env));
    await serve.waitFor(/noon-connect serving on http:\/\/127\.0\.0\.1:\d+/);

    // The link is signed with the service's key, read from the same store with the same master key.
    const opened = await openServiceStore(env);
    try {
      sb.addFault({ endpoint: 'token.exchange', action: { type: 'latency', ms: 2000 } });
      const run = await beginConnect(
        { sb, clientId: client.clientId, origin: publicUrl, callbackUrl: `${publicUrl}/connect/callback` },
        { startUrl: opened.links.create({ tenant: 'tenant-sigterm' }).url },
      );
      const answered = run.browser.get(run.callbackUrl).then(async (r) => ({
        status: r.status,
        location: r.headers.get('location'),
      }));
      const attempt = await waitFor('the exchange to be in flight', async () => {
        const [a] = await opened.store.listAttempts({ tenant: 'tenant-sigterm' });
        return a?.status === 'EXCHANGE_SENT' ? a : undefined;
      });
      const signalled = Date.now();
      serve.child.kill('SIGTERM');

      const res = await answered;
      expect(res.status).toBe(303);
      expect(res.location).toMatch(new RegExp(`/connect/done/${attempt.id}$`));
      const code = await serve.exit;
      expect(code).toBe(0);
      // The process waited for the exchange (delayed 2 s upstream) instead of cutting it off.
      expect(Date.now() - signalled).toBeGreaterThan(1000);
      expect(sb.journal.entries({ endpoint: 'token.exchange' })).toHaveLength(1);

      const [conn] = await opened.store.listConnections({ tenant: 'tenant-sigterm' });
      expect(conn?.status).toBe('active');
      const [cred] = await opened.store.listCredentials({ connectionId: conn!.id });
      expect(cred?.state).toBe('active');
      expect(sb.ledger.entries().find((e) => e.keyId === cred!.keyId)?.via).toBe('exchange');
      expect((await opened.store.getAttempt(attempt.id))!.status).toBe('CONNECTED');
      // It logged its stop, as a structured line.
      const lines = serve
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      expect(lines.map((l) => JSON.parse(l).msg)).toContain('stopped');
    } finally {
      if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
      await opened.close();
    }
  });
});
