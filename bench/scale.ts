// `npm run bench -- scale`: the scale-out storm with one `serve` instance, then with three on one Postgres behind
// a round-robin proxy (each flow's start, callback and done page on different instances). Printed side by side:
// full connects/s and p99 of one flow (link → done page). The sandbox, the proxy and the load run in this process,
// the instances in child processes; everything shares this machine's cores, so three instances cannot be 3× here:
// a real deployment scales on separate machines, with Noon and Postgres elsewhere. Loopback only. Bounded:
// BENCH_SCALE_FLOWS flows per run (default 100), 12 in flight.

import { startSandbox } from '../test/helpers/sandbox.js';
import { postgresAvailable } from '../test/helpers/stores.js';
import { percentile, startCluster, storm } from '../test/scale/cluster.js';
import { record } from './_report.js';

const FLOWS = Number(process.env.BENCH_SCALE_FLOWS ?? 100);
const IN_FLIGHT = 12;

async function measure(instances: number): Promise<{ perS: number; p99: number; p50: number; ok: number }> {
  const sb = await startSandbox();
  const cluster = await startCluster(sb, instances);
  try {
    // A short warm-up (module loading, the integrator login, connection pools), not measured.
    await storm(cluster, Math.min(12, FLOWS), IN_FLIGHT);
    const r = await storm(cluster, FLOWS, IN_FLIGHT);
    const ok = r.flows.filter((f) => f.ended === 'connected');
    const ms = ok.map((f) => f.ms);
    return { perS: ok.length / r.seconds, p99: percentile(ms, 99), p50: percentile(ms, 50), ok: ok.length };
  } finally {
    await cluster.close();
    await sb.close();
  }
}

export async function run(): Promise<void> {
  if (!(await postgresAvailable())) {
    process.stdout.write('scale: skipped (no Postgres at NOON_CONNECT_TEST_PG_URL)\n');
    return;
  }
  const one = await measure(1);
  const three = await measure(3);
  const line = (label: string, m: typeof one) =>
    `  ${label.padEnd(12)} ${m.perS.toFixed(1).padStart(7)} connects/s   p50 ${m.p50.toFixed(0).padStart(5)} ms   p99 ${m.p99.toFixed(0).padStart(5)} ms   (${m.ok}/${FLOWS} connected)\n`;
  process.stdout.write(
    `scale: ${FLOWS} full connects, ${IN_FLIGHT} in flight, one Postgres, sandbox in process\n${line('1 instance', one)}${line('3 instances', three)}`,
  );
  const note =
    'all on one 2-core machine: the instances, the sandbox, Postgres and the load share the cores; three instances add no cores here';
  record({
    bench: 'scale',
    measure: 'full connects/s, 3 instances behind a round-robin proxy, Postgres',
    value: three.perS,
    unit: 'connects/s',
    baseline: { label: '1 instance, same storm', value: one.perS },
    ratio: three.perS / one.perS,
    floor: 'report',
    note,
  });
  record({
    bench: 'scale',
    measure: 'p99 of one full connect (link → done page), 3 instances',
    value: three.p99,
    unit: 'ms',
    baseline: { label: '1 instance, same storm', value: one.p99 },
    ratio: three.p99 / one.p99,
    floor: 'report',
    goal: 'lower is better',
    note,
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
