// The noon-connect command line: one file per command; this one dispatches and prints help and the version.
// It imports no command: each is loaded on first use, so `--help` and `--version` load neither the service, the
// sandbox nor a store driver.

import { readFileSync } from 'node:fs';
import { EXIT, type Io } from './io.js';

export type { Io } from './io.js';

const defaultIo: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

type Command = (argv: string[], io: Io) => Promise<number>;

/** Every command, with the one-line summary `--help` prints and how to load it. */
const COMMANDS: Readonly<Record<string, { summary: string; load: () => Promise<Command> }>> = {
  dev: {
    summary: 'Run the sandbox and the service together locally (SQLite, .data/)',
    load: async () => (await import('./dev.js')).devCommand,
  },
  serve: {
    summary: 'Run the connector service (configured by environment variables)',
    load: async () => (await import('./serve.js')).serveCommand,
  },
  sandbox: {
    summary: 'Run the local Noon sandbox on its own',
    load: async () => (await import('./sandbox.js')).sandboxCommand,
  },
  check: {
    summary: "Check an integrator application's connect flow against the sandbox before it goes live",
    load: async () => (await import('./check.js')).checkCommand,
  },
  connections: {
    summary: 'List connections, or show one with its keys and attempts',
    load: async () => (await import('./connections.js')).connectionsCommand,
  },
  rotate: {
    summary: "Rotate a connection's key (make-before-break)",
    load: async () => (await import('./rotate.js')).rotateCommand,
  },
  disconnect: {
    summary: "Remove a connection's keys at Noon and mark it disconnected",
    load: async () => (await import('./disconnect.js')).disconnectCommand,
  },
  reconcile: {
    summary: 'Run one reconciler pass and print the report',
    load: async () => (await import('./reconcile.js')).reconcileCommand,
  },
  vault: {
    summary: 'Make a master key (keygen), or re-wrap everything under the current one (rotate)',
    load: async () => (await import('./vault.js')).vaultCommand,
  },
  tokens: {
    summary: 'Create, list or revoke REST API tokens (per tenant or all tenants)',
    load: async () => (await import('./tokens.js')).tokensCommand,
  },
  webhooks: {
    summary: 'Forward the event outbox to a local URL (listen), or commit a test event (trigger)',
    load: async () => (await import('./webhooks.js')).webhooksCommand,
  },
  doctor: {
    summary: 'Check the configuration, store, master key and Noon login',
    load: async () => (await import('./doctor.js')).doctorCommand,
  },
};

/**
 * The package's version, read from its package.json when asked: two folders up from this module, both in the
 * sources (src/cli) and in the build (dist/cli), in a clone and in an installed package alike.
 */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length)) + 2;
  return `Usage: noon-connect <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([k, v]) => `  ${k.padEnd(width)} ${v.summary}`)
  .join('\n')}

Run 'noon-connect <command> --help' for a command's options,
'noon-connect --version' (or -v) for the version.
Exit codes: 0 ok, 1 failure, 2 bad usage, 3 configuration refused, 4 not found.`;
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    io.out(usage());
    return command === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (command === '-v' || command === '--version') {
    io.out(version());
    return EXIT.OK;
  }
  const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!entry) {
    io.err(`noon-connect: unknown command '${command}'\n\n${usage()}`);
    return EXIT.USAGE;
  }
  return (await entry.load())(rest, io);
}
