// `noon-connect webhooks listen|trigger`: webhooks while developing. `listen` reads the store's event outbox
// (so it sees the events of every instance that shares the store) and forwards each new event to a local URL,
// signed exactly as the service's deliveries are; `trigger` commits a test event to the outbox, which the running
// service's webhook worker delivers to its configured URLs and `listen` forwards.

import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  EVENT_TYPES,
  type EventType,
  eventBody,
  newEvent,
  SIGNATURE_HEADER,
  signWebhook,
} from '../connect/events.js';
import { closest, parseConfig } from '../service/config.js';
import { type EventRecord, openStore, type Store } from '../store/index.js';
import { CliError, openConfiguredStore, parseOptions, reportError } from './context.js';
import { EXIT, type Io, waitForStop } from './io.js';

export const WEBHOOKS_USAGE = `Usage: noon-connect webhooks listen --forward-to <url> [--data-dir <dir>] [--json]
       noon-connect webhooks trigger <event> [--tenant <t>] [--data-dir <dir>] [--json]

listen   Forwards every new event in the store's outbox to <url> as it is committed,
         by any instance sharing the store, signed exactly like the service's
         deliveries (x-noon-connect-signature: t=<unix>,v1=<HMAC-SHA256>). Prints
         one line per event with the answer. Stops on Ctrl-C (SIGINT) or SIGTERM.
trigger  Commits a test event of type <event> (${EVENT_TYPES.join(', ')})
         to the outbox, addressed to the configured webhook URLs: the running
         service delivers it, and listen forwards it.

The store and secret come from the same environment variables as serve
(NOON_CONNECT_STORE, NOON_CONNECT_WEBHOOK_SECRET, NOON_CONNECT_WEBHOOK_URLS),
or, with --data-dir, from a 'noon-connect dev' data folder (its connect.db and
webhook.secret, made on first use; dev signs with the same secret).

Options:
  --forward-to <url>  Where listen POSTs each event (e.g. http://127.0.0.1:3000/webhooks)
  --data-dir <dir>    A dev data folder instead of the serve variables
  --tenant <t>        The tenant of the test event (default: webhooks-test)
  --interval <ms>     How often listen reads the outbox (default 500)
  --json              One JSON object per line instead of text
  -h, --help          Show this help

Exit codes: 0 ok, 1 failure, 2 bad usage, 3 configuration refused.`;

/** The webhook secret of a dev data folder, made (readable by its owner only) on first use. */
export function devWebhookSecret(dir: string): string {
  const file = join(dir, 'webhook.secret');
  if (!existsSync(file)) {
    writeFileSync(file, `${randomUUID().replace(/-/g, '')}${randomUUID().replace(/-/g, '')}\n`, {
      mode: 0o600,
    });
    chmodSync(file, 0o600);
  }
  return readFileSync(file, 'utf8').trim();
}

interface Target {
  store: Store;
  secret: string | undefined;
  endpoints: string[];
}

async function openTarget(dataDir: string | undefined): Promise<Target> {
  if (dataDir !== undefined) {
    const dir = resolve(dataDir);
    const file = join(dir, 'connect.db');
    if (!existsSync(file))
      throw new CliError(
        `no store at ${file}: start 'noon-connect dev --data-dir ${dataDir}' first`,
        EXIT.CONFIG,
      );
    const urls = (process.env.NOON_CONNECT_WEBHOOK_URLS ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean);
    return {
      store: await openStore(`sqlite:${file}`),
      secret: process.env.NOON_CONNECT_WEBHOOK_SECRET?.trim() || devWebhookSecret(dir),
      endpoints: urls,
    };
  }
  const config = parseConfig(process.env);
  return {
    store: await openConfiguredStore(config),
    secret: config.webhookSecret,
    endpoints: config.webhookUrls,
  };
}

export async function webhooksCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    (sub === undefined ? io.err : io.out)(WEBHOOKS_USAGE);
    return sub === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (sub !== 'listen' && sub !== 'trigger') {
    const guess = closest(sub, ['listen', 'trigger']);
    io.err(
      `noon-connect webhooks: unknown subcommand '${sub}'${guess ? ` (did you mean ${guess}?)` : ''}\n\n${WEBHOOKS_USAGE}`,
    );
    return EXIT.USAGE;
  }
  const parsed = parseOptions(
    `webhooks ${sub}`,
    rest,
    {
      'forward-to': { type: 'string' },
      'data-dir': { type: 'string' },
      tenant: { type: 'string' },
      interval: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    WEBHOOKS_USAGE,
    io,
    sub === 'trigger',
  );
  if (!parsed) return EXIT.USAGE;
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(WEBHOOKS_USAGE);
    return EXIT.OK;
  }
  const dataDir = values['data-dir'] as string | undefined;
  const json = values.json === true;
  try {
    if (sub === 'trigger') {
      const type = positionals[0];
      if (!type || !(EVENT_TYPES as readonly string[]).includes(type)) {
        const guess = type ? closest(type, EVENT_TYPES) : undefined;
        io.err(
          `noon-connect webhooks trigger: <event> must be one of ${EVENT_TYPES.join(', ')}${guess ? ` (did you mean ${guess}?)` : ''}`,
        );
        return EXIT.USAGE;
      }
      return await trigger(
        type as EventType,
        (values.tenant as string | undefined) ?? 'webhooks-test',
        dataDir,
        json,
        io,
      );
    }
    const forwardTo = values['forward-to'] as string | undefined;
    if (!forwardTo || !/^https?:\/\//.test(forwardTo)) {
      io.err('noon-connect webhooks listen: --forward-to <url> is required, an http(s) URL');
      return EXIT.USAGE;
    }
    const interval = values.interval === undefined ? 500 : Number(values.interval);
    if (!Number.isInteger(interval) || interval < 50 || interval > 60_000) {
      io.err('noon-connect webhooks listen: --interval must be an integer from 50 to 60000 (milliseconds)');
      return EXIT.USAGE;
    }
    return await listen(forwardTo, interval, dataDir, json, io, signal);
  } catch (e) {
    return reportError(`webhooks ${sub}`, e, io);
  }
}

async function trigger(type: EventType, tenant: string, dataDir: string | undefined, json: boolean, io: Io) {
  const t = await openTarget(dataDir);
  try {
    const id = randomUUID();
    const data = {
      tenant,
      seller_project: 'PRJ-TEST',
      connection_id: randomUUID(),
      attempt_id: randomUUID(),
      ...(type === 'failed' ? { error_code: 'TEST_EVENT' } : {}),
    };
    await t.store.appendEvents([newEvent(id, type, data, Date.now(), t.endpoints)]);
    if (json) io.out(JSON.stringify({ id, type, tenant, endpoints: t.endpoints }));
    else {
      io.out(`committed test event ${id} (${type}, tenant ${tenant})`);
      io.out(
        t.endpoints.length > 0
          ? `  the service delivers it to ${t.endpoints.join(', ')}; 'webhooks listen' forwards it too`
          : "  no NOON_CONNECT_WEBHOOK_URLS configured: only 'webhooks listen' forwards it",
      );
    }
    return EXIT.OK;
  } finally {
    await t.store.close().catch(() => {});
  }
}

async function listen(
  forwardTo: string,
  intervalMs: number,
  dataDir: string | undefined,
  json: boolean,
  io: Io,
  signal?: AbortSignal,
): Promise<number> {
  const t = await openTarget(dataDir);
  if (!t.secret) {
    await t.store.close().catch(() => {});
    throw new CliError(
      'no webhook secret: set NOON_CONNECT_WEBHOOK_SECRET (the one the service signs with), or use --data-dir',
      EXIT.CONFIG,
    );
  }
  const secret = t.secret;
  // Only events committed from now on: the ones already in the outbox are remembered as seen.
  const seen = new Set((await t.store.listEvents({ limit: 1000 })).map((e) => e.id));
  if (!json) io.out(`listening to the event outbox; forwarding to ${forwardTo} (Ctrl-C stops)`);
  else io.out(JSON.stringify({ listening: true, forward_to: forwardTo }));

  const forward = async (e: EventRecord) => {
    const body = eventBody(e);
    let status: number | null = null;
    let error: string | undefined;
    try {
      const res = await fetch(forwardTo, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'noon-connect-webhooks/1',
          [SIGNATURE_HEADER]: signWebhook(secret, body, Math.floor(Date.now() / 1000)),
          'x-noon-connect-event': e.type,
          'x-noon-connect-delivery': e.id,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      await res.body?.cancel().catch(() => {});
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      error = cause?.code ?? (err as Error).name;
    }
    const at = new Date(e.createdAt).toISOString();
    if (json)
      io.out(JSON.stringify({ id: e.id, type: e.type, created_at: at, status, error: error ?? null }));
    else
      io.out(
        `${at}  ${e.type.padEnd(16)} ${e.id}  -> ${status !== null ? `HTTP ${status}` : `failed (${error})`}`,
      );
  };

  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      try {
        const fresh = (await t.store.listEvents({ limit: 200 }))
          .filter((e) => !seen.has(e.id))
          .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
        for (const e of fresh) {
          seen.add(e.id);
          await forward(e);
        }
      } catch (e) {
        io.err(`noon-connect webhooks listen: reading the outbox failed (${(e as Error).message}); retrying`);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };
  const polling = poll();
  await waitForStop(signal);
  stopped = true;
  await polling;
  await t.store.close().catch(() => {});
  if (!json) io.out('noon-connect webhooks listen stopped');
  return EXIT.OK;
}
