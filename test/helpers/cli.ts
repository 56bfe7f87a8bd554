// Spawns the noon-connect CLI (from sources) as a child process and collects its output.

import { type ChildProcess, spawn } from 'node:child_process';
import { waitFor as waitUntil } from './wait.js';

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/cli-entry.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor: (re, ms = 20_000) =>
      waitUntil(
        `${re} on stdout`,
        () => {
          const m = out.match(re);
          if (!m && child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${err}`);
          return m;
        },
        { timeoutMs: ms, explain: () => `stdout: ${out}` },
      ),
  };
}
