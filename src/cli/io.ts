// What every command gets: where to print, how to read options, and how to wait for Ctrl-C / SIGTERM.

import { type ParseArgsConfig, parseArgs } from 'node:util';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export function waitForStop(signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/** Exit codes every command uses. */
export const EXIT = Object.freeze({
  OK: 0,
  /** A runtime failure: Noon, the store or the network failed. */
  FAILURE: 1,
  /** Bad usage: unknown command or option, bad argument. */
  USAGE: 2,
  /** Configuration refused (missing or bad environment, wrong master key). */
  CONFIG: 3,
  /** The thing asked for does not exist (e.g. no such connection). */
  NOT_FOUND: 4,
});

/** Parses options strictly; on bad usage prints the message and the usage text and returns undefined. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
  usage: string,
  io: Io,
  allowPositionals = false,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } | undefined {
  try {
    const r = parseArgs({ args: argv, options, strict: true, allowPositionals });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    io.err(`noon-connect ${command}: ${(e as Error).message}\n\n${usage}`);
    return undefined;
  }
}
