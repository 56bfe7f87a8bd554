// `noon-connect webhooks listen|trigger` against a running service: listen reads the store's event outbox and
// forwards a real connect's event to a local URL, signed exactly like the service's own deliveries (checked here
// with the secret, as a receiver would); trigger commits a test event that the service delivers to its webhook
// URL and listen forwards too. Nothing secret appears in either command's output.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../helpers/cli.js';
import { type ServiceStack, startServiceStack } from '../helpers/harness.js';
import { connectThrough, freshSeller } from '../helpers/seller-flow.js';
import { childEnv } from '../helpers/service-ops.js';
import { waitFor } from '../helpers/wait.js';
import { createReceiver, type Received, type Receiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec-${randomBytes(24).toString('base64url')}`;

/** The receiver's check of a delivery: the signature header against the raw body and the shared secret. */
function signatureValid(r: Received, secret: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.headers['x-noon-connect-signature'] ?? '');
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${r.body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

describe('noon-connect webhooks listen / trigger against a running service', () => {
  let stack: ServiceStack;
  let configured: Receiver;
  let forwarded: Receiver;
  let listen: CliRun;
  let env: Record<string, string>;

  beforeAll(async () => {
    configured = await createReceiver({ path: '/service-hooks' });
    forwarded = await createReceiver({ path: '/local-hooks' });
    stack = await startServiceStack({
      env: { NOON_CONNECT_WEBHOOK_URLS: configured.url, NOON_CONNECT_WEBHOOK_SECRET: SECRET },
      sandboxOptions: { poolSize: 2 },
    });
    env = childEnv(stack.env);
    listen = runCli(['webhooks', 'listen', '--forward-to', forwarded.url, '--interval', '100'], env);
    await listen.waitFor(/listening to the event outbox/);
  }, 60_000);

  afterAll(async () => {
    if (listen && listen.child.exitCode === null) {
      listen.child.kill('SIGTERM');
      await listen.exit;
    }
    await stack?.close();
    await configured?.close();
    await forwarded?.close();
  });

  it('listen forwards a real connect’s "connected" event with a signature valid under the service’s secret', async () => {
    const seller = freshSeller(stack.sb, 'WH');
    const link = stack.service.context.links.create({ tenant: 'hooks-tenant' });
    const trip = await connectThrough(stack, { startUrl: link.url, ...seller });
    expect(trip.callback.status).toBe(303);

    const got = await waitFor('the forwarded connected event', () =>
      forwarded.received.find((r) => JSON.parse(r.body).type === 'connected'),
    );
    expect(signatureValid(got, SECRET)).toBe(true);
    expect(signatureValid(got, `${SECRET}x`)).toBe(false);
    const event = JSON.parse(got.body) as { id: string; data: { tenant: string; seller_project: string } };
    expect(event.data).toMatchObject({ tenant: 'hooks-tenant', seller_project: seller.projectCode });
    expect(got.headers['x-noon-connect-event']).toBe('connected');
    expect(got.headers['x-noon-connect-delivery']).toBe(event.id);
    // The same event, byte for byte, as the service's own worker delivered it to the configured URL.
    const delivered = await waitFor('the service delivery', () =>
      configured.received.find((r) => JSON.parse(r.body).id === event.id),
    );
    expect(delivered.body).toBe(got.body);
    expect(signatureValid(delivered, SECRET)).toBe(true);
    await waitFor('the listen line', () => listen.stdout().includes(`${event.id}  -> HTTP 200`));
  });

  it('trigger commits a test event: the service delivers it to its webhook URL and listen forwards it, both signed', async () => {
    const run = runCli(['webhooks', 'trigger', 'rotated', '--tenant', 'trigger-tenant', '--json'], env);
    expect(await run.exit, run.stderr()).toBe(0);
    const out = JSON.parse(run.stdout()) as { id: string; type: string; endpoints: string[] };
    expect(out).toMatchObject({ type: 'rotated', endpoints: [configured.url] });
    for (const r of [configured, forwarded]) {
      const got = await waitFor(`the test event at ${r.url}`, () =>
        r.received.find((x) => JSON.parse(x.body).id === out.id),
      );
      expect(signatureValid(got, SECRET)).toBe(true);
      expect(JSON.parse(got.body)).toMatchObject({ type: 'rotated', data: { tenant: 'trigger-tenant' } });
    }
  });

  it('bad usage says what is wrong: an unknown event gets the closest name, listen needs --forward-to', async () => {
    const a = runCli(['webhooks', 'trigger', 'conected'], env);
    expect(await a.exit).toBe(2);
    expect(a.stderr()).toMatch(/<event> must be one of .* \(did you mean connected\?\)/);
    const b = runCli(['webhooks', 'listen'], env);
    expect(await b.exit).toBe(2);
    expect(b.stderr()).toMatch(/--forward-to <url> is required/);
    const out = listen.stdout() + listen.stderr() + a.stderr() + b.stderr();
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(stack.env.NOON_CONNECT_MASTER_KEY ?? 'no master key in env');
  });
});
