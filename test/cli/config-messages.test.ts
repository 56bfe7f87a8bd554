// What a person sees for a configuration mistake: an enum value gets the closest allowed value (NOON_ENV=sandbox
// → local, the package's own sandbox), a misspelt NOON_CONNECT_* variable is warned with the known name it is
// closest to (by doctor and the operator commands, never silently ignored), and a master key that is set but
// not a key is called malformed by doctor, not missing. Names only: no message quotes a value.

import { describe, expect, it } from 'vitest';
import { reportError } from '../../src/cli/context.js';
import { closest, configWarnings } from '../../src/service/config.js';
import { runCli } from '../helpers/cli.js';
import { goodEnv, problemsOf } from '../helpers/config-env.js';

describe('configuration messages', () => {
  it('an enum value gets "did you mean": NOON_ENV=sandbox → local, prod → production, a typo → the closest', () => {
    expect(problemsOf(goodEnv({ NOON_ENV: 'sandbox' }))).toContainEqual(
      expect.stringMatching(
        /^NOON_ENV must be production, noon-sandbox, local or custom \(did you mean local\?/,
      ),
    );
    expect(problemsOf(goodEnv({ NOON_ENV: 'prod' }))).toContainEqual(
      expect.stringContaining('(did you mean production?)'),
    );
    expect(problemsOf(goodEnv({ NOON_CONNECT_MODE: 'development' }))).toContainEqual(
      expect.stringContaining('NOON_CONNECT_MODE must be dev or production (did you mean dev?)'),
    );
    expect(problemsOf(goodEnv({ NOON_CONNECT_MODE: 'prodution' }))).toContainEqual(
      expect.stringContaining('(did you mean production?)'),
    );
    expect(problemsOf(goodEnv({ NOON_CONNECT_LOG_LEVEL: 'warning' }))).toContainEqual(
      expect.stringContaining('(did you mean warn?)'),
    );
    // Nothing close: no guess.
    expect(problemsOf(goodEnv({ NOON_ENV: 'qwertyuiop' }))).toContainEqual(
      'NOON_ENV must be production, noon-sandbox, local or custom',
    );
    expect(closest('json', ['pretty', 'json'])).toBe('json');
  });

  it('unknown NOON_CONNECT_* variables are warned with the closest known name; known and test variables are not', () => {
    const w = configWarnings({
      ...goodEnv(),
      NOON_CONNECT_WEBHOOK_URL: 'http://127.0.0.1:1/x',
      NOON_CONNECT_MASTERKEY: 'secret-value-never-printed',
      NOON_CONNECT_SOMETHING_ELSE_ENTIRELY: '1',
      NOON_CONNECT_TEST_PG_URL: 'postgres://x',
      OTHER_VARIABLE: '1',
    });
    expect(w).toEqual([
      'NOON_CONNECT_MASTERKEY is not a noon-connect variable and is ignored (did you mean NOON_CONNECT_MASTER_KEY?)',
      'NOON_CONNECT_SOMETHING_ELSE_ENTIRELY is not a noon-connect variable and is ignored',
      'NOON_CONNECT_WEBHOOK_URL is not a noon-connect variable and is ignored (did you mean NOON_CONNECT_WEBHOOK_URLS?)',
    ]);
    expect(w.join('\n')).not.toContain('secret-value-never-printed');
    expect(configWarnings(goodEnv())).toEqual([]);
  });

  it('doctor calls a master key that is set but not a key malformed (not "set it"), quoting no value', async () => {
    const garbage = 'this-is-not-a-master-key';
    const run = runCli(['doctor', '--timeout', '500'], goodEnv({ NOON_CONNECT_MASTER_KEY: garbage }));
    await run.exit;
    expect(run.stdout()).toMatch(
      /^FAIL\s+master key\s+.*\(hint: NOON_CONNECT_MASTER_KEY is set but malformed: it must be 32 random bytes in base64/m,
    );
    expect(run.stdout()).not.toMatch(/hint: set NOON_CONNECT_MASTER_KEY/);
    expect(run.stdout() + run.stderr()).not.toContain(garbage);
  });

  it('doctor shows a misspelt variable as a warning line with the closest name, and still passes what passes', async () => {
    const run = runCli(['doctor', '--timeout', '500'], {
      ...goodEnv({ NOON_CONNECT_API_TOKN: 'x' }),
    });
    await run.exit;
    expect(run.stdout()).toMatch(
      /^warn\s+variables\s+NOON_CONNECT_API_TOKN is not a noon-connect variable and is ignored \(did you mean NOON_CONNECT_API_TOKEN\?\)/m,
    );
    expect(run.stdout()).toMatch(/^ok\s+config\s/m);
  });

  it('a store failure in a command names its cause: a Postgres error shows its message beside its SQLSTATE', () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const pgError = Object.assign(new Error('relation "nc_events" does not exist'), {
      severity: 'ERROR',
      code: '42P01',
    });
    expect(reportError('connections list', pgError, io)).toBe(1);
    expect(lines).toEqual([
      'noon-connect connections list: store: relation "nc_events" does not exist (SQLSTATE 42P01)',
    ]);
    // Anything else that is not ours still prints only its code, never a message that could quote data.
    lines.length = 0;
    reportError('rotate', Object.assign(new Error('value "secret" rejected'), { code: 'EWHATEVER' }), io);
    expect(lines).toEqual(['noon-connect rotate: failed (EWHATEVER)']);
  });
});
