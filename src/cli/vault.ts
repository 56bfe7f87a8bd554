// `noon-connect vault keygen|rotate`: a fresh master key (printed, or created inside a PKCS#11 token), and
// master-key rotation (re-wrap every sealed value under the current version, then optionally retire the old
// version once nothing needs it).

import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs';
import { rewrapAll } from '../connect/rewrap.js';
import { generatePkcs11KeyFromEnv, keygen, Pkcs11Error, VaultError } from '../vault/index.js';
import { CliError, parseOptions, reportError, withContext } from './context.js';
import { EXIT, type Io } from './io.js';

export const VAULT_USAGE = `Usage: noon-connect vault keygen [--out <file> | --pkcs11 [--label <label>]] [--json]
       noon-connect vault rotate [--retire <version>] [--json]

keygen  Prints a fresh master key (32 random bytes, base64), for
        NOON_CONNECT_MASTER_KEY; with --out, writes it to a new file readable by
        you only (mode 0600), for NOON_CONNECT_MASTER_KEY_FILE.
        With --pkcs11, creates the key inside the token configured by the
        NOON_CONNECT_PKCS11_* variables instead (AES-256, non-extractable)
        under --label, or under the current version's label in
        NOON_CONNECT_PKCS11_KEY_LABEL; prints the label and its fingerprint.
rotate  Re-wraps every sealed value in the store under the current master key
        version (only the data keys are re-wrapped; no secret is decrypted).
        Configure the new key first, e.g.
          NOON_CONNECT_MASTER_KEY='{"current":"v2","keys":{"v1":"…","v2":"…"}}'
        With --retire <version>, the old version is then retired, but only when
        nothing remains sealed under an older version; afterwards it can be
        removed from the configuration.

Options:
  --out <file>  keygen: write the key to this new file (mode 0600) instead
  --pkcs11      keygen: create the key in the PKCS#11 token
  --label <l>   keygen --pkcs11: the new key object's label
  --retire <v>  Retire this version after a complete re-wrap
  --json        Print JSON (keygen: the key, file or token key; rotate: the report)
  -h, --help    Show this help

Exit codes: 0 ok, 2 bad usage, 3 configuration refused (missing or wrong master
key), 1 failure (values remain under an older version, store failure).`;

export async function vaultCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    (sub === undefined ? io.err : io.out)(VAULT_USAGE);
    return sub === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (sub === 'keygen') return keygenCommand(rest, io);
  if (sub === 'rotate') return rotateCommand(rest, io);
  io.err(`noon-connect vault: unknown subcommand '${sub}'\n\n${VAULT_USAGE}`);
  return EXIT.USAGE;
}

async function keygenCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'vault keygen',
    argv,
    {
      pkcs11: { type: 'boolean' },
      label: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    VAULT_USAGE,
    io,
  );
  if (!parsed) return EXIT.USAGE;
  const { values } = parsed;
  if (values.help) {
    io.out(VAULT_USAGE);
    return EXIT.OK;
  }
  const json = values.json === true;
  if (values.label !== undefined && !values.pkcs11) {
    io.err(`noon-connect vault keygen: --label goes with --pkcs11\n\n${VAULT_USAGE}`);
    return EXIT.USAGE;
  }
  if (values.out !== undefined && values.pkcs11) {
    io.err(`noon-connect vault keygen: --out and --pkcs11 do not go together\n\n${VAULT_USAGE}`);
    return EXIT.USAGE;
  }
  if (values.out !== undefined) return writeKeyFile(String(values.out), io, json);
  if (!values.pkcs11) {
    io.out(json ? JSON.stringify({ master_key: keygen() }) : keygen());
    return EXIT.OK;
  }
  try {
    const made = await generatePkcs11KeyFromEnv(process.env, values.label as string | undefined);
    io.out(
      json
        ? JSON.stringify({ label: made.label, fingerprint: made.fingerprint })
        : `created AES-256 key "${made.label}" in the token (non-extractable); fingerprint ${made.fingerprint}`,
    );
    return EXIT.OK;
  } catch (e) {
    if (e instanceof Pkcs11Error && e.reason === 'KEY_EXISTS') {
      io.err(`noon-connect vault keygen: ${e.message}`);
      return EXIT.FAILURE;
    }
    return reportError('vault keygen', e, io);
  }
}

/**
 * H6: a new key file, created 0600 in one step (never widened by the umask, never written over an existing file):
 * `vault keygen > file` would leave it as readable as the shell's umask makes new files.
 */
function writeKeyFile(path: string, io: Io, json = false): number {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    io.err(
      `noon-connect vault keygen: cannot create ${path}: ${code === 'EEXIST' ? 'it exists (a key file is never overwritten)' : (code ?? 'error')}`,
    );
    return EXIT.FAILURE;
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `${keygen()}\n`);
  } finally {
    closeSync(fd);
  }
  io.out(
    json
      ? JSON.stringify({ file: path })
      : `wrote a new master key to ${path} (mode 0600); set NOON_CONNECT_MASTER_KEY_FILE=${path}`,
  );
  return EXIT.OK;
}

async function rotateCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseOptions(
    'vault rotate',
    argv,
    { retire: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    VAULT_USAGE,
    io,
  );
  if (!parsed) return EXIT.USAGE;
  const { values } = parsed;
  if (values.help) {
    io.out(VAULT_USAGE);
    return EXIT.OK;
  }
  const retire = values.retire as string | undefined;
  try {
    const result = await withContext({ vault: true }, async ({ store, vault }) => {
      const v = vault!;
      if (retire !== undefined && retire === v.currentVersion)
        throw new CliError(`--retire ${retire}: that is the current version; retire the old one`, EXIT.USAGE);
      const report = await rewrapAll(store, v);
      let retired: string | null = null;
      if (retire !== undefined && report.remaining === 0) {
        try {
          await v.retire(retire);
        } catch (e) {
          if (e instanceof VaultError || (e as { code?: string }).code === 'ERR_VAULT_INVALID_ARGUMENT')
            throw new CliError(`--retire ${retire}: ${(e as Error).message}`, EXIT.USAGE);
          throw e;
        }
        retired = retire;
      }
      return { currentVersion: v.currentVersion, ...report, retired };
    });
    if (values.json) io.out(JSON.stringify(result, null, 2));
    else {
      io.out(`re-wrapped under master key version ${result.currentVersion}`);
      io.out(`  examined   ${result.examined}`);
      io.out(`  rewrapped  ${result.rewrapped}`);
      io.out(`  raced      ${result.raced}`);
      io.out(`  remaining  ${result.remaining}`);
      if (result.retired)
        io.out(`retired version ${result.retired}; it can now be removed from the configuration`);
    }
    if (retire !== undefined && !result.retired) {
      io.err(
        `noon-connect vault rotate: not retiring ${retire}: ${result.remaining} value(s) still sealed under an older version; run again`,
      );
      return EXIT.FAILURE;
    }
    if (result.remaining > 0)
      io.err(`noon-connect vault rotate: ${result.remaining} value(s) changed meanwhile; run it again`);
    return EXIT.OK;
  } catch (e) {
    return reportError('vault rotate', e, io);
  }
}
