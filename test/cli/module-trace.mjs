// Preloaded with `node --import` by the CLI start-up tests: records every module the process loads into the
// file NOON_TRACE_FILE, one URL or path a line. ES modules and built-ins through a resolve hook (run on the
// loader thread), CommonJS modules from the require cache and built-ins from the process's load list at exit.

import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const out = process.env.NOON_TRACE_FILE;
if (!out) throw new Error('module-trace: set NOON_TRACE_FILE');

const hook = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(out)}, resolved.url + '\\n');
  return resolved;
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);

process.on('exit', () => {
  const cjs = Object.keys(createRequire(import.meta.url).cache);
  const builtins = (process.moduleLoadList ?? []).map((m) => `builtin:${m}`);
  appendFileSync(out, `${[...cjs, ...builtins].join('\n')}\n`);
});
