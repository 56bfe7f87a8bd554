// What a store refusal at `serve` must look like, wherever the command runs (from the sources or from an
// installed package): exit 3, exactly one line about the store naming the cause, no stack trace, no listening.

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { randomToken } from '../helpers/harness.js';
import { childEnv } from '../helpers/service-ops.js';

/** A configuration `serve` accepts up to its store: production on loopback, every required value present. */
export function serveEnv(store: string): Record<string, string> {
  return childEnv({
    NOON_CONNECT_MODE: 'production',
    NOON_CONNECT_PORT: '0',
    NOON_CONNECT_PUBLIC_URL: 'http://127.0.0.1:8787',
    NOON_ENV: 'production',
    NOON_CLIENT_ID: 'acme-connect',
    NOON_CLIENT_SECRET: 'not-a-real-secret-but-long-enough',
    // Read after the store opens, so it need not exist for these refusals.
    NOON_KEY_FILE: '/nonexistent/integrator-key.json',
    NOON_CONNECT_STORE: store,
    NOON_CONNECT_MASTER_KEY: randomBytes(32).toString('base64'),
    NOON_CONNECT_ADMIN_TOKEN: randomToken('admin'),
    NOON_CONNECT_API_TOKEN: randomToken('api'),
  });
}

/** Checks a finished `serve` refused its store as an operator needs it; returns the line about the store. */
export function storeRefusalLine(r: { code: number | null; stdout: string; stderr: string }): string {
  const storeLines = r.stderr.split('\n').filter((l) => /store/i.test(l));
  expect(storeLines, r.stderr).toHaveLength(1);
  expect(r.code, r.stderr).toBe(3);
  expect(r.stdout).not.toMatch(/serving on/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return storeLines[0]!;
}
