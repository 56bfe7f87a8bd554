// Starts a bench server child process and talks to it over IPC.

import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Child {
  call<T = any>(op: string, args?: unknown): Promise<T>;
  close(): Promise<void>;
  proc: ChildProcess;
}

export async function startChild(script: string, argv: string[] = []): Promise<Child> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  // BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there when it exits (see bench/_profile.ts);
  // BENCH_CHILD_ARGS="<node flags>": more flags for every child (e.g. --perf-basic-prof for perf).
  const prof = process.env.BENCH_CPU_PROF;
  const proc = fork(file, argv, {
    execArgv: [
      '--import',
      'tsx',
      '--expose-gc',
      '--no-flush-bytecode',
      ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
      ...(process.env.BENCH_CHILD_ARGS ? process.env.BENCH_CHILD_ARGS.split(' ') : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let seq = 0;
  await new Promise<void>((resolve, reject) => {
    proc.once('message', () => resolve());
    proc.once('exit', (code) => reject(new Error(`bench child exited with ${code}`)));
  });
  proc.on('message', (m: { id?: number; result?: unknown; error?: string }) => {
    if (m.id === undefined) return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) p?.reject(new Error(m.error));
    else p?.resolve(m.result);
  });
  const child: Child = {
    proc,
    call(op, args) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        proc.send({ id, op, args });
      });
    },
    async close() {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      try {
        await child.call('close');
      } catch {}
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  return child;
}

let inspector: import('node:inspector/promises').Session | undefined;

/**
 * `profile-start` ({ intervalUs }) and `profile-stop` ({ file }): a V8 CPU profile of just the span between the two
 * (the measured part of a bench, without start-up), written to `file` for bench/_profile.ts.
 */
async function profile(m: ChildMsg): Promise<unknown> {
  const { Session } = await import('node:inspector/promises');
  if (m.op === 'profile-start') {
    inspector = new Session();
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: m.args?.intervalUs ?? 100 });
    await inspector.post('Profiler.start');
    return {};
  }
  if (!inspector) throw new Error('profile-stop without profile-start');
  const { profile: p } = await inspector.post('Profiler.stop');
  inspector.disconnect();
  inspector = undefined;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(m.args.file, JSON.stringify(p));
  return {};
}

/** A message from the parent to a bench child: one operation, answered under its id. */
export type ChildMsg = { id: number; op: string; args?: any };

/** In a bench child: answers each message from the parent with `handle`'s result or error, then says it is ready. */
export function serveParent(handle: (m: ChildMsg) => Promise<unknown>): void {
  process.on('message', (m: ChildMsg) => {
    (m.op === 'profile-start' || m.op === 'profile-stop' ? profile(m) : handle(m)).then(
      (result) => process.send!({ id: m.id, result }),
      (e: Error) => process.send!({ id: m.id, error: e.message }),
    );
  });
  process.send!({ ready: true });
}
