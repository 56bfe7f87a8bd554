import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Fast unit tests: pure code, no server, database, sandbox or child process. `npm run test:unit` runs only these;
 * `npm test` runs them and the integration project. A new test file belongs here when it starts nothing.
 */
const UNIT = [
  'test/contract-coverage.test.ts',
  'test/client/coverage.test.ts',
  'test/client/process-steps.test.ts',
  'test/connect/callback-query*.test.ts',
  'test/connect/options.test.ts',
  'test/http/light-response.test.ts',
  'test/vault/config.test.ts',
  'test/vault/envelope.test.ts',
  'test/vault/rotation.test.ts',
  'test/vault/startup.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT],
        },
      },
    ],
  },
});
