// A service configuration that passes, as environment variables (production mode against Noon production, every
// required value present, nothing reachable: the integrator key file does not exist), so a test changes one thing
// and sees that one refusal; and the problems parseConfig lists for an environment.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/service/index.js';
import { randomToken } from './harness.js';
import { tempDir } from './stores.js';

export function goodEnv(over: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NOON_CONNECT_MODE: 'production',
    NOON_CONNECT_PORT: '0',
    NOON_CONNECT_PUBLIC_URL: 'https://connect.example.com',
    NOON_ENV: 'production',
    NOON_CLIENT_ID: 'acme-connect',
    NOON_CLIENT_SECRET: 'not-a-real-secret-but-long-enough',
    NOON_KEY_FILE: '/nonexistent/integrator-key.json',
    NOON_CONNECT_STORE: `sqlite:${join(tempDir('nc-config-'), 'store', 'connect.db')}`,
    NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64'),
    NOON_CONNECT_ADMIN_TOKEN: randomToken('admin'),
    NOON_CONNECT_API_TOKEN: randomToken('api'),
    ...over,
  };
}

/** Every problem parseConfig finds in `env` (none: it passes). */
export function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    parseConfig(env);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems;
  }
}
