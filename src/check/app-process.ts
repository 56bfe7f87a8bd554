// --exec: the application under check started by the checker, with its configuration as environment variables.
// Its output is kept (bounded) so the secrets check can read it as the application's log; it is stopped, with
// its whole process group, when the run ends.

import { type ChildProcess, spawn } from 'node:child_process';

const MAX_OUTPUT = 8 * 1024 * 1024;

export interface AppProcess {
  /** What the application printed (stdout and stderr, interleaved). */
  output(): string;
  /** The exit code once it exited, else undefined. */
  exited(): number | null | undefined;
  stop(): Promise<void>;
}

export function startApp(command: string, env: Record<string, string>): AppProcess {
  const child: ChildProcess = spawn(command, {
    shell: true,
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let exit: number | null | undefined;
  const keep = (d: Buffer) => {
    if (out.length < MAX_OUTPUT) out += d.toString('utf8');
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const done = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exit = code ?? (signal ? null : 0);
      resolve();
    });
    child.on('error', () => {
      exit = null;
      resolve();
    });
  });
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      // The shell's process group: the application itself may be a child of the shell.
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {}
  };
  return {
    output: () => out,
    exited: () => exit,
    async stop() {
      if (exit !== undefined) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 3000);
      await done;
      clearTimeout(timer);
    },
  };
}
