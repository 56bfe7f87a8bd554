// A process for the webhook crash tests, run with `node --import tsx`, configured by the JSON in
// NC_WEBHOOK_CHILD. Modes:
// - `connect`: a connector with webhooks on; it connects one seller (start → consent through the sandbox admin →
//   callback) and SIGKILLs itself at the CONNECTED step, right after the commit that recorded the event.
// - `worker`: one WebhookWorker that runs passes until no delivery is pending (or its time is up), then prints
//   `DELIVERED <n>` (how many it delivered itself) and exits.
// - `doomed-worker`: a WebhookWorker whose send SIGKILLs the process after the lease was taken and before a
//   single byte is sent.
// The sandbox and the webhook receiver stay in the parent, so they outlive every kill.

import {
  NoonApiUsers,
  NoonClient,
  NoonOAuth,
  NoonSession,
  parseCredentials,
} from '../../src/client/index.js';
import { createConnector, WebhookWorker } from '../../src/connect/index.js';
import type { KeyFile } from '../../src/sandbox/index.js';
import { createPostgresStore, createSqliteStore, metaOf, type Store } from '../../src/store/index.js';
import { LocalKeyProvider, Vault } from '../../src/vault/index.js';

export interface WebhookChildConfig {
  mode: 'connect' | 'worker' | 'doomed-worker';
  store: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; schema: string };
  secret: string;
  /** connect mode */
  sandboxUrl?: string;
  integratorKey?: KeyFile;
  clientId?: string;
  clientSecret?: string;
  callbackUrl?: string;
  masterKey?: string;
  endpoint?: string;
  projectCode?: string;
  tenant?: string;
  /** worker modes: the worker's clock is real time plus this offset (to pass a dead worker's lease). */
  clockOffsetMs?: number;
  leaseMs?: number;
  maxMs?: number;
}

const config = JSON.parse(process.env.NC_WEBHOOK_CHILD ?? '') as WebhookChildConfig;

function line(s: string): void {
  process.stdout.write(`${s}\n`);
}

async function openStore(): Promise<Store> {
  return config.store.kind === 'sqlite'
    ? createSqliteStore({ database: config.store.file })
    : createPostgresStore({ connection: config.store.url, schema: config.store.schema, max: 2 });
}

async function connectAndDie(): Promise<void> {
  const store = await openStore();
  const vault = await Vault.open({
    provider: new LocalKeyProvider({ current: 'v1', keys: { v1: config.masterKey! } }),
    meta: metaOf(store),
  });
  const client = new NoonClient({
    environment: { local: config.sandboxUrl! },
    userAgent: 'noon-connect-tests/1.0',
    timeoutMs: 5000,
    retry: { baseDelayMs: 10, maxDelayMs: 50 },
  });
  const integrator = new NoonSession(client, parseCredentials(config.integratorKey!));
  const origin = new URL(config.callbackUrl!).origin;
  const connector = await createConnector({
    noon: {
      client,
      oauth: new NoonOAuth({
        session: integrator,
        clientId: config.clientId!,
        clientSecret: config.clientSecret!,
      }),
      apiUsers: new NoonApiUsers({ session: integrator }),
    },
    store,
    vault,
    environment: 'sandbox',
    publicUrl: origin,
    webhooks: { endpoints: [config.endpoint!], secret: config.secret },
    stepHook: (step, a) => {
      if (step === 'CONNECTED') {
        line(`STEP CONNECTED ${a.id}`);
        process.kill(process.pid, 'SIGKILL');
      }
    },
  });
  const started = await connector.start({ tenant: config.tenant ?? 'tenant-1' });
  const state = new URL(started.url).searchParams.get('state')!;
  const auth = await fetch(`${config.sandboxUrl}/_sandbox/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'noon-connect-tests/1.0' },
    body: JSON.stringify({
      client_id: config.clientId,
      state,
      project_code: config.projectCode,
      redirect_uri: config.callbackUrl,
    }),
  });
  const { code } = (await auth.json()) as { code: string };
  const cookie = started.setCookie.split(';')[0]!;
  const out = await connector.callback(
    new Request(`${config.callbackUrl}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`, {
      headers: { cookie },
    }),
  );
  // Reaching here means the step hook never fired.
  line(`OUTCOME ${out.kind}`);
  process.exit(3);
}

async function runWorker(doomed: boolean): Promise<void> {
  const store = await openStore();
  const offset = config.clockOffsetMs ?? 0;
  const worker = new WebhookWorker({
    store,
    secret: config.secret,
    clock: { now: () => Date.now() + offset },
    leaseMs: config.leaseMs ?? 30_000,
    timeoutMs: 2000,
    baseBackoffMs: 10,
    ...(doomed
      ? {
          fetch: async () => {
            line('LEASED');
            process.kill(process.pid, 'SIGKILL');
            return new Response(null, { status: 599 });
          },
        }
      : {}),
  });
  const deadline = Date.now() + (config.maxMs ?? 10_000);
  let delivered = 0;
  // Runs passes until the outbox has nothing left to deliver (another worker may be draining it too).
  while (Date.now() < deadline) {
    const r = await worker.runOnce();
    delivered += r.delivered;
    if ((await store.listDeliveries({ pending: true, limit: 1 })).length === 0) break;
    if (r.delivered === 0) await new Promise((res) => setTimeout(res, 10));
  }
  line(`DELIVERED ${delivered}`);
  await store.close();
  process.exit(0);
}

if (config.mode === 'connect') await connectAndDie();
else await runWorker(config.mode === 'doomed-worker');
