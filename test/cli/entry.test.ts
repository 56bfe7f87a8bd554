// The command's entry as a user runs it (`node bin/noon-connect.js`, and the CLI from its sources):
// `--help` and `--version` answer without loading the service, the sandbox or a store driver, and
// `--version` prints the version of the package it belongs to.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { version } from '../../src/cli/main.js';

const TRACE = resolve('test/cli/module-trace.mjs');
const PACKAGE_VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

/** How the command is started: the installed bin (over dist/), or the sources through tsx. */
const ENTRIES = {
  bin: { preload: [], script: 'bin/noon-connect.js' },
  sources: { preload: ['--import', 'tsx'], script: 'test/helpers/cli-entry.ts' },
} as const;

/** Runs the command with every loaded module traced; resolves with its exit code, output and the modules. */
function traced(entry: keyof typeof ENTRIES, args: string[]) {
  const file = join(mkdtempSync(join(tmpdir(), 'nc-trace-')), 'modules.txt');
  const { preload, script } = ENTRIES[entry];
  // The trace hook goes after tsx so it sees what tsx resolved (a hook registered later runs first).
  const argv = [...preload, '--import', TRACE, script, ...args];
  const child = spawn(process.execPath, argv, {
    env: { ...process.env, NOON_TRACE_FILE: file },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise<{ code: number | null; out: string; err: string; modules: string[] }>((done) => {
    child.on('exit', (code) =>
      done({ code, out, err, modules: readFileSync(file, 'utf8').split('\n').filter(Boolean) }),
    );
  });
}

/** Modules `--help` and `--version` must not load: the service, the sandbox, the stores and their drivers. */
const HEAVY = [
  /\/(src|dist)\/(service|sandbox|store|connect|vault|check)\//,
  /\/node_modules\/(better-sqlite3|pg|pino)\//,
  /^node:sqlite$/,
  /^builtin:NativeModule sqlite$/,
];

describe('noon-connect --help and --version', () => {
  it('dist/ is built from the current sources (the bin runs the build)', () => {
    expect(
      statSync('dist/cli/main.js').mtimeMs,
      'dist/ is older than src/cli/main.ts: run npm run build',
    ).toBeGreaterThanOrEqual(statSync('src/cli/main.ts').mtimeMs);
  });

  for (const entry of Object.keys(ENTRIES) as (keyof typeof ENTRIES)[]) {
    it(`${entry}: --help lists the commands and loads neither the service, the sandbox nor SQLite`, async () => {
      const r = await traced(entry, ['--help']);
      expect(r.code, r.err).toBe(0);
      for (const c of ['dev', 'serve', 'sandbox', 'check', 'connections', 'doctor'])
        expect(r.out).toMatch(new RegExp(`^  ${c} `, 'm'));
      // The trace saw the dispatcher itself, so an empty trace cannot pass.
      expect(r.modules.some((m) => /\/cli\/main\.(ts|js)$/.test(m))).toBe(true);
      expect(r.modules.filter((m) => HEAVY.some((re) => re.test(m)))).toEqual([]);
    });

    it(`${entry}: --version and -v print the package's version and load nothing else`, async () => {
      for (const flag of ['--version', '-v']) {
        const r = await traced(entry, [flag]);
        expect(r.code, r.err).toBe(0);
        expect(r.out).toBe(`${PACKAGE_VERSION}\n`);
        expect(r.modules.filter((m) => HEAVY.some((re) => re.test(m)))).toEqual([]);
      }
    });
  }

  it('version() reads package.json next to the module, as an installed package has it', () => {
    expect(version()).toBe(PACKAGE_VERSION);
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });
});
