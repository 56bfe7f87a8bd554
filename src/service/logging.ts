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

/**
 * The service's logger (pino): JSON lines, or one readable line per entry with `format: 'pretty'`, written to
 * `destination` (default stdout). Fields named like secrets (tokens, cookies, codes, states, keys) are redacted.
 */
export function createLogger(o: {
  format: 'pretty' | 'json';
  level: string;
  destination?: NodeJS.WritableStream;
}): Logger {
  const dest = o.destination ?? process.stdout;
  return pino(
    { level: o.level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: null },
    o.format === 'pretty' ? prettyStream(dest) : (dest as Writable),
  );
}
