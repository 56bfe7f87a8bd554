// `npm run bench -- [--write] [<name> ...]`: runs bench/<name>.ts for each name given (all of them when none is).
// With --write, bench/RESULTS.md is written from the rows the benches recorded (bench/_report.ts): every figure
// beside its baseline from the same run, the ratio, floor and goal, the machine and the date. No row by hand.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchRow, recorded } from './_report.js';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();
const args = process.argv.slice(2);
const write = args.includes('--write');
const wanted = args.filter((a) => a !== '--write');
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; available: ${available.join(', ')}\n`);
  process.exit(2);
}
const names = wanted.length > 0 ? wanted : available;
const started = new Date();
const ran: string[] = [];
const failed: { name: string; error: string }[] = [];
for (const name of names) {
  process.stdout.write(`\n# bench: ${name}\n`);
  const t0 = performance.now();
  try {
    const mod = (await import(join(here, `${name}.ts`))) as { run: () => Promise<void> };
    await mod.run();
    ran.push(name);
  } catch (e) {
    // One bench failing must not lose the others' figures; it is listed in RESULTS.md and the exit code says so.
    failed.push({ name, error: e instanceof Error ? e.message : String(e) });
    process.stderr.write(
      `bench ${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
  }
  process.stdout.write(`# ${name}: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

if (write) {
  const file = join(here, 'RESULTS.md');
  writeFileSync(file, resultsMarkdown(recorded(), { started, ran, failed }));
  // The repository's formatter aligns the table (whitespace only), so the file passes `biome check` as written.
  const biome = join(here, '..', 'node_modules', '.bin', 'biome');
  if (existsSync(biome)) spawnSync(biome, ['format', '--write', file], { stdio: 'ignore' });
  process.stdout.write(`\nwrote ${file} (${recorded().length} rows)\n`);
}
if (failed.length > 0) process.exitCode = 1;

function num(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

function cell(s: string | undefined): string {
  return (s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function resultsMarkdown(
  rows: readonly BenchRow[],
  run: { started: Date; ran: string[]; failed: { name: string; error: string }[] },
): string {
  const cpu = cpus();
  const minutes = ((Date.now() - run.started.getTime()) / 60_000).toFixed(1);
  const lines = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench -- --write${wanted.length > 0 ? ` ${wanted.join(' ')}` : ''}\` from the rows the benches recorded in that run; do not edit by hand.`,
    '',
    `- Date: ${run.started.toISOString()} (the run took ${minutes} min)`,
    `- Machine: ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${process.platform} ${process.arch}`,
    `- Node.js ${process.version}`,
    `- Benches run: ${run.ran.join(', ') || 'none'}${run.failed.length > 0 ? `; failed: ${run.failed.map((f) => `${f.name} (${cell(f.error)})`).join(', ')}` : ''}`,
    '- Every bench runs its servers in child processes and its load in the parent, on the same machine; the',
    '  baseline of each row was measured in the same run. A ratio is figure ÷ baseline (for "lower is better" rows',
    '  the goal says so).',
    '',
    '| bench | measure | figure | baseline (same run) | ratio | floor | goal | note |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const base = r.baseline ? `${num(r.baseline.value)} ${r.unit} (${cell(r.baseline.label)})` : '—';
    lines.push(
      `| ${r.bench} | ${cell(r.measure)} | ${num(r.value)} ${r.unit} | ${base} | ${r.ratio !== undefined ? `${num(r.ratio)}×` : '—'} | ${cell(r.floor) || '—'} | ${cell(r.goal) || '—'} | ${cell(r.note)} |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
