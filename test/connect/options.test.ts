// The connector's options on their own: defaults, a frozen copy the caller cannot change afterwards, misuse
// as a coded TypeError, and plain-http URLs refused in production (U12). No store, no network.

import { describe, expect, it } from 'vitest';
import { ConnectError, type ConnectorOptions, UsageError } from '../../src/connect/index.js';
import { MAX_STATE_TTL_MS, resolveOptions } from '../../src/connect/options.js';

// The parts are only carried through here, never called.
const parts = { noon: {}, store: {}, vault: {} } as unknown as Pick<
  ConnectorOptions,
  'noon' | 'store' | 'vault'
>;

function options(over: Partial<ConnectorOptions> = {}): ConnectorOptions {
  return { ...parts, environment: 'sandbox', publicUrl: 'http://127.0.0.1:8787', ...over };
}

function misuse(over: Partial<ConnectorOptions> | null): UsageError {
  try {
    resolveOptions(over === null ? (null as unknown as ConnectorOptions) : options(over));
  } catch (e) {
    return e as UsageError;
  }
  throw new Error('no error');
}

describe('resolveOptions', () => {
  it('fills the defaults and derives the cookie policy from the public URL', () => {
    const o = resolveOptions(options());
    expect(o).toMatchObject({
      stateTtlMs: MAX_STATE_TTL_MS,
      returnPaths: ['/'],
      verifyLogin: true,
      alreadyConnectedWindowMs: 600_000,
      slotWaitMs: 20_000,
      secureCookies: false,
      webhookEndpoints: [],
      sellerSessionCacheSize: 100,
      thresholds: {
        CLAIMED: 120_000,
        TOKEN_ISSUED: 60_000,
        EXCHANGE_SENT: 120_000,
        KEY_STORED: 60_000,
        retiring: 60_000,
      },
    });
    expect(resolveOptions(options({ publicUrl: 'https://connect.example' })).secureCookies).toBe(true);
    expect(resolveOptions(options({ reconcileAfterMs: { EXCHANGE_SENT: 5 } })).thresholds).toMatchObject({
      EXCHANGE_SENT: 5,
      CLAIMED: 120_000,
    });
  });

  it('the resolved options are a frozen copy: changing what was passed in changes nothing', () => {
    const returnPaths = ['/settings'];
    const webhooks = { endpoints: ['http://127.0.0.1:9/hook'], secret: 's'.repeat(16) };
    const o = resolveOptions(options({ returnPaths, webhooks }));
    returnPaths.push('/');
    webhooks.endpoints.push('http://127.0.0.1:9/other');
    expect(o.returnPaths).toEqual(['/settings']);
    expect(o.webhookEndpoints).toEqual(['http://127.0.0.1:9/hook']);
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.returnPaths)).toBe(true);
    expect(Object.isFrozen(o.thresholds)).toBe(true);
  });

  it('the clock, randomness and sleep given are the ones used', async () => {
    const o = resolveOptions(
      options({
        clock: { now: () => 42 },
        randomBytes: (n) => Buffer.alloc(n, 7),
        uuid: () => 'fixed',
        sleep: async () => {},
      }),
    );
    expect(o.now()).toBe(42);
    expect(o.randomBytes(2)).toEqual(Buffer.from([7, 7]));
    expect(o.uuid()).toBe('fixed');
    await expect(o.sleep(1_000_000)).resolves.toBeUndefined();
  });

  it('misuse is a TypeError with code ERR_CONNECT_INVALID_ARGUMENT, naming the option', () => {
    const cases: [Partial<ConnectorOptions> | null, RegExp][] = [
      [null, /needs options/],
      [{ store: undefined as never }, /store is required/],
      [{ environment: 'Prod!' }, /environment/],
      [{ publicUrl: 'not a url' }, /publicUrl must be an absolute URL/],
      [{ publicUrl: 'ftp://connect.example' }, /publicUrl must be http or https/],
      [{ stateTtlMs: MAX_STATE_TTL_MS + 1 }, /stateTtlMs/],
      [{ stateTtlMs: 0 }, /stateTtlMs/],
      [{ returnPaths: ['//evil.example'] }, /returnPaths/],
      [{ webhooks: { endpoints: [], secret: 'short' } }, /webhooks.secret/],
      [{ webhooks: { endpoints: ['mailto:a@b'], secret: 's'.repeat(16) } }, /webhook endpoints/],
    ];
    for (const [over, message] of cases) {
      const e = misuse(over);
      expect(e, String(message)).toBeInstanceOf(TypeError);
      expect(e).toBeInstanceOf(UsageError);
      expect(e.code).toBe('ERR_CONNECT_INVALID_ARGUMENT');
      expect(e.message).toMatch(message);
    }
  });

  it('U12 in production, plain http is refused (CONFIG) unless the address is loopback', () => {
    const production = (over: Partial<ConnectorOptions>) => () =>
      resolveOptions(options({ environment: 'production', ...over }));
    for (const over of [
      { publicUrl: 'http://connect.example' },
      {
        publicUrl: 'https://connect.example',
        webhooks: { endpoints: ['http://hooks.example/x'], secret: 's'.repeat(16) },
      },
    ]) {
      expect(production(over)).toThrow(ConnectError);
      expect(production(over)).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    }
    expect(production({ publicUrl: 'http://127.0.0.1:8787' })).not.toThrow();
    expect(production({ publicUrl: 'https://connect.example' })).not.toThrow();
    // Outside production, http to any host is allowed (a staging box, a LAN address).
    expect(() => resolveOptions(options({ publicUrl: 'http://connect.example' }))).not.toThrow();
  });
});
