// `npm run bench -- <name> [...]`: runs bench/<name>.ts for each name given (all of them when none is).

import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; available: ${available.join(', ')}\n`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : available) {
  process.stdout.write(`\n# bench: ${name}\n`);
  const mod = (await import(join(here, `${name}.ts`))) as { run: () => Promise<void> };
  await mod.run();
}
