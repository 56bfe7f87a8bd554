// `npx tsx bench/_profile.ts <file.cpuprofile> [top]`: a V8 CPU profile (node --cpu-prof, or BENCH_CPU_PROF=<dir>
// for the bench children) summed by function (self time) and by file, heaviest first.

import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: tsx bench/_profile.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 40);
const prof = JSON.parse(readFileSync(file, 'utf8')) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
};
const selfUs = new Map<number, number>();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const byFn = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
for (const n of prof.nodes) {
  const us = selfUs.get(n.id) ?? 0;
  if (n.callFrame.functionName === '(idle)') continue;
  total += us;
  const short = n.callFrame.url.replace(/^.*\/(node_modules\/|src\/|bench\/)/, '$1');
  const key = `${n.callFrame.functionName || '(anonymous)'} ${short}:${n.callFrame.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const f = short.replace(/node_modules\/((@[^/]+\/)?[^/]+).*/, 'node_modules/$1') || '(native)';
  byFile.set(f, (byFile.get(f) ?? 0) + us);
}
const show = (m: Map<string, number>, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, v]) =>
        `${(v / 1000).toFixed(1).padStart(9)} ms ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`,
    )
    .join('\n');
console.log(
  `busy ${(total / 1000).toFixed(0)} ms\n-- by file --\n${show(byFile, 25)}\n-- by function (self) --\n${show(byFn, top)}`,
);

// `[top] <name>`: who calls the functions named <name> (self time by caller chain, 4 frames up).
const callee = process.argv[4];
if (callee) {
  const parent = new Map<number, Node>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const chains = new Map<string, number>();
  for (const n of prof.nodes) {
    if (n.callFrame.functionName !== callee) continue;
    const names: string[] = [];
    let p = parent.get(n.id);
    for (let i = 0; i < 6 && p; i++, p = parent.get(p.id))
      names.push(
        `${p.callFrame.functionName || '(anon)'}:${p.callFrame.url.split('/').pop()}:${p.callFrame.lineNumber + 1}`,
      );
    const key = names.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + (selfUs.get(n.id) ?? 0));
  }
  console.log(`-- callers of ${callee} --\n${show(chains, 15)}`);
}

// BENCH_PROF_INCLUSIVE=1: total (inclusive) time of the project's own functions, heaviest first.
if (process.env.BENCH_PROF_INCLUSIVE) {
  const totalOf = new Map<number, number>();
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const incl = (id: number): number => {
    const known = totalOf.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    let t = selfUs.get(id) ?? 0;
    for (const c of n.children ?? []) t += incl(c);
    totalOf.set(id, t);
    return t;
  };
  const sums = new Map<string, number>();
  const onStack = new Set<string>();
  const walk = (id: number): void => {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const key = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/(node_modules\/|src\/|bench\/)/, '$1')}`;
    const own = !onStack.has(key);
    if (own) {
      sums.set(key, (sums.get(key) ?? 0) + incl(id));
      onStack.add(key);
    }
    for (const c of n.children ?? []) walk(c);
    if (own) onStack.delete(key);
  };
  walk(prof.nodes[0]!.id);
  const mine = new Map([...sums].filter(([k]) => / (src|node_modules)\//.test(k) || /crypto|http/.test(k)));
  console.log(`-- inclusive --\n${show(mine, Number(process.env.BENCH_PROF_INCLUSIVE) || 60)}`);
}
