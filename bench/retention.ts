// `npm run bench -- retention`: the retention purge measured. 100,000 ended attempts older than the retention age
// are seeded into the service's SQLite store; then full connects (start → the sandbox's admin consent → callback)
// run while the service is idle, and again while one reconciler pass purges those attempts in bounded batches.
// Printed: callback latency (p50, p99, max) idle and during the purge, side by side, with the purge's duration
// and what it left. The service and the sandbox run in child processes, the load in this one. Loopback only.

import { join } from 'node:path';
import { Pool } from 'undici';
import { startChild } from './_child.js';
import { adminPost, connectOnce, loopback } from './_flow.js';
import { fmt, percentile } from './_load.js';
import { record } from './_report.js';

const UA = 'noon-connect-bench/1.0';
const OLD_ATTEMPTS = Number(process.env.BENCH_RETENTION_ROWS ?? 100_000);
const IDLE_FLOWS = 100;
const PURGE_FLOWS = 200;
const IN_FLIGHT = 4;
const KEY_CACHE = join(process.cwd(), 'node_modules', '.cache', 'noon-connect', 'bench-keys');

/**
 * Connects through single-use links, `IN_FLIGHT` at a time, each for its own seller project, until the links run
 * out or `until()` says stop; returns each callback's latency (only the callback request: what the purge could
 * hold up) and how many ended connected.
 */
async function flows(o: {
  origin: string;
  sandboxUrl: string;
  clientId: string;
  links: string[];
  projects: string[];
  until?: () => boolean;
}): Promise<{ callbackMs: number[]; connected: number; other: number }> {
  const cp = new Pool(loopback(o.origin), { connections: IN_FLIGHT, keepAliveTimeout: 30_000 });
  const sp = new Pool(loopback(o.sandboxUrl), { connections: IN_FLIGHT, keepAliveTimeout: 30_000 });
  const callbackMs: number[] = [];
  let connected = 0;
  let other = 0;
  let next = 0;
  async function one(i: number): Promise<void> {
    const link = new URL(o.links[i]!);
    const r = await connectOnce({
      connector: cp,
      sandbox: sp,
      startPath: `${link.pathname}${link.search}`,
      clientId: o.clientId,
      projectCode: o.projects[i]!,
      redirectUri: `${o.origin}/connect/callback`,
      userAgent: UA,
    });
    callbackMs.push(r.callbackMs);
    if (r.status === 303) connected++;
    else other++;
  }
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < o.links.length && !(o.until?.() ?? false); i = next++) await one(i);
    }),
  );
  await cp.close();
  await sp.close();
  return { callbackMs, connected, other };
}

function row(name: string, ms: number[], connected: number): string {
  return `  ${name.padEnd(22)} ${String(ms.length).padStart(9)} ${fmt(percentile(ms, 50), 1).padStart(9)} ${fmt(percentile(ms, 99), 1).padStart(9)} ${fmt(Math.max(...ms), 1).padStart(9)} ${String(connected).padStart(10)}`;
}

export async function run(): Promise<void> {
  const sandbox = await startChild('./_sandbox-child.ts', ['sandbox']);
  const server = await startChild('./_retention-child.ts');
  try {
    const flowsNeeded = IDLE_FLOWS + PURGE_FLOWS;
    const info = await sandbox.call('start-sandbox', {
      poolSize: flowsNeeded + 10,
      keyCacheDir: KEY_CACHE,
      sellers: flowsNeeded,
    });
    const { origin } = await server.call<{ origin: string }>('port');
    const client = await adminPost(
      info.url,
      '/_sandbox/clients',
      {
        name: 'Bench Retention',
        redirect_uris: [`${origin}/connect/callback`],
      },
      UA,
    );
    await server.call('start', {
      sandboxUrl: info.url,
      integratorKey: info.key,
      clientId: client.client_id,
      clientSecret: client.client_secret,
    });
    const projects = Array.from({ length: flowsNeeded }, (_, i) => `PRJB${i}`);
    const seedStarted = performance.now();
    const seeded = await server.call<{ attempts: number }>('seed', { count: OLD_ATTEMPTS, ageDays: 40 });
    const seedMs = performance.now() - seedStarted;

    // Idle: the same table (100k old rows in it), no purge running.
    const idle = await flows({
      origin,
      sandboxUrl: info.url,
      clientId: client.client_id,
      links: await server.call<string[]>('links', { count: IDLE_FLOWS, tag: 'idle' }),
      projects: projects.slice(0, IDLE_FLOWS),
    });

    // During: one reconciler pass purges the old attempts while connects run; only callbacks made while the
    // purge ran count.
    let purging = true;
    const purge = server.call<{ ms: number; left: number }>('purge').finally(() => {
      purging = false;
    });
    const during = await flows({
      origin,
      sandboxUrl: info.url,
      clientId: client.client_id,
      links: await server.call<string[]>('links', { count: PURGE_FLOWS, tag: 'purge' }),
      projects: projects.slice(IDLE_FLOWS),
      until: () => !purging,
    });
    const purged = await purge;

    process.stdout.write(
      `retention purge: ${seeded.attempts} ended attempts seeded (40 days old, retention 30 days) in ${fmt(seedMs / 1000, 1)} s\n` +
        `purge: one reconciler pass, batches of 200 rows with a pause between them: ${fmt(purged.ms / 1000, 2)} s, ${OLD_ATTEMPTS - purged.left} purged, ${purged.left} left\n` +
        `  ${'callbacks'.padEnd(22)} ${'count'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'max ms'.padStart(9)} ${'connected'.padStart(10)}\n` +
        `${row('idle', idle.callbackMs, idle.connected)}\n` +
        `${row('during the purge', during.callbackMs, during.connected)}\n` +
        (idle.other + during.other > 0
          ? `  (${idle.other + during.other} callbacks did not end connected)\n`
          : ''),
    );
    const p99Idle = percentile(idle.callbackMs, 99);
    const p99During = percentile(during.callbackMs, 99);
    record({
      bench: 'retention',
      measure: 'callback p99 while a purge runs',
      value: p99During,
      unit: 'ms',
      baseline: { label: 'callback p99 with no purge running, same table', value: p99Idle },
      ratio: p99During / p99Idle,
      note: `${seeded.attempts} old attempts, purge ${fmt(purged.ms / 1000, 2)} s, ${OLD_ATTEMPTS - purged.left} purged, ${purged.left} left; lower is better`,
    });
  } finally {
    await server.close();
    await sandbox.close();
  }
}
