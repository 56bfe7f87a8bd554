// Structured logs (pino): JSON lines in production, a readable line per entry in dev. Secret-bearing fields
// are redacted by name, and the code paths that log never pass secret values in the first place.

import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

/** The log fields pino redacts, by name. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.client_secret',
  '*.clientSecret',
  '*.access_token',
  '*.accessToken',
  '*.private_key',
  '*.privateKey',
  '*.token',
  '*.code',
  '*.state',
  '*.password',
  'client_secret',
  'access_token',
  'private_key',
  'token',
  'state',
];

function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const {
            level,
            time,
            msg,
            pid: _p,
            hostname: _h,
            ...rest
          } = JSON.parse(line) as Record<string, unknown>;
          const name =
            (
              { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' } as Record<
                number,
                string
              >
            )[level as number] ?? 'LOG';
          const t = new Date(Number(time)).toISOString().slice(11, 19);
          const fields = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          out.write(`${t} ${name.padEnd(5)} ${String(msg ?? '')}${fields ? `  ${fields}` : ''}\n`);
        } catch {
          out.write(`${line}\n`);
        }
      }
      cb();
    },
  });
}

/** Names the redaction replaces at the top level whatever their value (a bare `token`, `state`, …). */
const TOP_LEVEL_REDACTED: ReadonlySet<string> = new Set(REDACT_PATHS.filter((p) => !p.includes('.')));

/**
 * Whether an entry's fields are ones the redaction leaves as they are: a plain object of strings, finite or not
 * numbers, booleans, nulls and undefined, none under a name redacted at the top level. Every other redacted path
 * reaches into an object value (`*.token`, `headers.cookie`, …), and such an entry has none.
 */
function leftAsIs(fields: unknown): boolean {
  if (typeof fields !== 'object' || fields === null) return false;
  const proto = Object.getPrototypeOf(fields);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k of Object.keys(fields)) {
    if (TOP_LEVEL_REDACTED.has(k)) return false;
    const v = (fields as Record<string, unknown>)[k];
    const t = typeof v;
    if (!(t === 'string' || t === 'number' || t === 'boolean' || v === null || v === undefined)) return false;
  }
  return true;
}

/**
 * The service's logger (pino): JSON lines, or one readable line per entry with `format: 'pretty'`, written to
 * `destination` (default stdout). Fields named like secrets (tokens, cookies, codes, states, keys) are redacted.
 *
 * pino's redaction runs on every field of every entry (the `*.…` paths make each value a candidate), which costs
 * most of an entry's serialization. An entry it could not change (`{ fields }, 'message'` with plain values and no
 * secret-bearing name: most of the service's lines) is written by a twin logger without redaction, into the same
 * stream at the level the caller's method stands for: the line is byte for byte the one redaction would write.
 * Any other entry, and every entry of a child logger, goes through the redaction.
 */
export function createLogger(o: {
  format: 'pretty' | 'json';
  level: string;
  destination?: NodeJS.WritableStream;
}): Logger {
  const dest = o.destination ?? process.stdout;
  const stream = o.format === 'pretty' ? prettyStream(dest) : (dest as Writable);
  // Every level open: the redacting logger decides what is written (its hook runs only for enabled levels).
  const plain = pino({ level: 'trace', base: null }, stream);
  const logger: Logger = pino(
    {
      level: o.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: null,
      hooks: {
        logMethod(args, method, level) {
          const [fields, msg] = args as unknown[];
          if (
            this === logger &&
            (args.length === 1 || (args.length === 2 && typeof msg === 'string')) &&
            leftAsIs(fields)
          ) {
            const label = plain.levels.labels[level];
            if (label !== undefined) {
              (plain[label as 'info'] as (...a: unknown[]) => void).apply(plain, args);
              return;
            }
          }
          method.apply(this, args);
        },
      },
    },
    stream,
  );
  return logger;
}
