// The service's logger writes every entry exactly as pino with the redaction paths would: entries the redaction
// cannot change take a shorter way, and the test holds the two side by side for every shape of entry.

import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, REDACT_PATHS } from '../../src/service/logging.js';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(line);
      cb();
    },
  });
  return { stream, lines };
}

/** The line without its timestamp (the two loggers write at different moments). */
const untimed = (line: string) => line.replace(/"time":\d+,?/, '');

class Failure extends Error {
  code = 'E_SOMETHING';
  token = 'tok-in-error';
}

/** The same errors for both loggers (their stacks name where they were made). */
const failure = new Failure('boom');
const thrown = new Failure('thrown');

/** Every call the service's code paths make, and shapes they do not make but a caller could. */
function entries(log: Logger): void {
  log.info(
    {
      api: 'proxy',
      connectionId: 'c-1',
      tenant: 't',
      method: 'GET',
      path: '/catalog/v1/items',
      status: 200,
      requestId: null,
    },
    'proxied seller call',
  );
  log.warn(
    { route: 'proxy', status: 502, code: 'UNAVAILABLE', ok: false, n: Number.NaN, gone: undefined },
    'x',
  );
  log.error({ code: 'E1' }, 'a "quoted" message\nwith a line break and \u0001 control');
  log.debug({ upstream: 'login', event: 'response' }, 'below the level');
  log.info({ token: 'secret-token', name: 'kept' }, 'top-level token');
  log.info(
    { state: 'st', password: 'pw', client_secret: 'cs', access_token: 'at', private_key: 'pk' },
    'tops',
  );
  log.info({ data: { token: 'nested', code: 'c0de', keep: 1 } }, 'nested');
  log.info({ headers: { authorization: 'Bearer x', cookie: 'a=b', accept: '*/*' } }, 'headers');
  log.info({ req: { headers: { authorization: 'Bearer y', host: 'h' } } }, 'req headers');
  log.info({ list: [{ token: 'in-array' }], at: new Date(0) }, 'arrays and dates');
  log.info({ err: failure }, 'an error');
  log.info({ failure }, 'an error under another name');
  log.info(Object.assign(Object.create({ inherited: 'x' }) as object, { own: 'y' }), 'not a plain object');
  log.info('a message only');
  log.info('interpolated %s and %o', 'word', { password: 'pw-in-arg', keep: true });
  log.info({ a: 1 });
  log.info({ a: 1 }, 'with %s', 'an argument');
  log.info(thrown);
  log.child({ token: 'bound', tenant: 't' }).info({ status: 200 }, 'from a child');
  log.warn({ 'odd key': 'v', '': 'empty key', emoji: 'caf\u00e9 \u2615' }, 'odd keys');
}

describe('service logger', () => {
  it('writes each entry as pino with the redaction paths does, byte for byte but the time', () => {
    const ours = capture();
    const reference = capture();
    entries(createLogger({ format: 'json', level: 'info', destination: ours.stream }));
    entries(
      pino(
        { level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: null },
        reference.stream,
      ),
    );
    expect(ours.lines.length).toBe(19);
    expect(ours.lines.map(untimed)).toEqual(reference.lines.map(untimed));
    const all = ours.lines.join('\n');
    for (const secret of ['secret-token', 'Bearer', 'a=b', 'tok-in-error', 'bound'])
      expect(all).not.toContain(secret);
    expect(all).toContain('"requestId":null');
  });

  it('keeps the level: entries below it are not written, a level raised later holds', () => {
    const out = capture();
    const log = createLogger({ format: 'json', level: 'warn', destination: out.stream });
    log.info({ a: 1 }, 'hidden');
    log.warn({ a: 2 }, 'shown');
    log.level = 'error';
    log.warn({ a: 3 }, 'hidden now');
    log.error({ a: 4 }, 'shown too');
    expect(out.lines.map((l) => JSON.parse(l).msg)).toEqual(['shown', 'shown too']);
    expect(out.lines.map((l) => JSON.parse(l).level)).toEqual([40, 50]);
  });
});
