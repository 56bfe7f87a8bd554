// The noon-connect command line: one file per command; this one dispatches and prints help.

import { sandboxCommand } from './sandbox.js';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const defaultIo: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

export const USAGE = `Usage: noon-connect <command> [options]

Commands:
  sandbox    Run the local Noon sandbox (consent page, API gateway, admin API)

Run 'noon-connect <command> --help' for a command's options.`;

/** Exit codes: 0 ok, 1 runtime failure, 2 bad usage. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'sandbox':
      return sandboxCommand(rest, io);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.out(USAGE);
      return command === undefined ? 2 : 0;
    default:
      io.err(`noon-connect: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
