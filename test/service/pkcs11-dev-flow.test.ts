// A full dev-flow connect with the master key in a PKCS#11 token: `noon-connect dev` configured through the
// NOON_CONNECT_PKCS11_ variables (no key file is made), a seller connected through the dashboard and the
// sandbox's consent forms, the stored key opened through the token and logging in at the sandbox; and the same
// with the seller's key itself kept in the token (NOON_CONNECT_PKCS11_SELLER_KEYS=true). Runs with
// NOON_CONNECT_TEST_PKCS11=1 after `eval "$(scripts/softhsm-setup.sh <dir>)"` (the CI pkcs11 leg); otherwise
// it is skipped with one line.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NoonClient, NoonSession } from '../../src/client/index.js';
import { credentialsOf, sellerKeyLabel } from '../../src/connect/seller-keys.js';
import { openStore } from '../../src/store/index.js';
import { KEYRING_META_NAME } from '../../src/vault/index.js';
import { connectThroughDashboard, startDev, stopDev } from '../helpers/dev-run.js';
import { freePort } from '../helpers/net.js';
import { testPkcs11, testPkcs11Config, withTestVault } from '../helpers/pkcs11-switch.js';
import { UA } from '../helpers/sandbox.js';
import { SecretSearch } from '../helpers/secret-search.js';
import { tempDir } from '../helpers/stores.js';

const on = testPkcs11();
if (!on)
  process.stdout.write(
    'PKCS#11 dev-flow test skipped: set NOON_CONNECT_TEST_PKCS11=1 after eval "$(scripts/softhsm-setup.sh <dir>)" (the CI pkcs11 leg does)\n',
  );

describe.skipIf(!on)('noon-connect dev with the master key in a PKCS#11 token', () => {
  for (const sellerKeys of [false, true])
    it(`connects a seller end to end; the store records the token key and the seller logs in${sellerKeys ? ", the seller's key held in the token (NOON_CONNECT_PKCS11_SELLER_KEYS=true)" : ''}`, async () => {
      // The switch is on: missing variables are a failure, never a skip.
      testPkcs11Config();
      const dir = tempDir('nc-dev-pkcs11-');
      const port = await freePort();
      const dev = await startDev(
        process.execPath,
        [
          '--import',
          'tsx',
          'test/helpers/cli-entry.ts',
          'dev',
          '--port',
          String(port),
          '--sandbox-port',
          '0',
          '--data-dir',
          dir,
        ],
        process.cwd(),
        {
          ...process.env,
          NOON_CONNECT_LOG: 'json',
          NOON_CONNECT_PKCS11_SELLER_KEYS: sellerKeys ? 'true' : '',
        },
      );
      const search = new SecretSearch();
      try {
        expect(dev.output()).toMatch(/master key: in the PKCS#11 token/);
        expect(await connectThroughDashboard(dev)).toContain('Seller connected');

        const sandboxUrl = /sandbox:\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(dev.output())?.[1];
        expect(sandboxUrl).toBeDefined();
        const store = await openStore(`sqlite:${join(dir, 'connect.db')}`);
        try {
          // Only the PKCS#11 provider makes this fingerprint: the service sealed with the token's key.
          expect(await store.getMeta(KEYRING_META_NAME)).toMatch(/"pkcs11-(gcm|kcv):/);
          const [cred, ...others] = (await store.listCredentials({})).filter((c) => c.tenant === 'demo');
          expect(others).toEqual([]);
          const who = await withTestVault(store, '', async (vault, signingKeys) => {
            const text = (
              await vault.open(cred!.sealed, {
                tenant: cred!.tenant,
                project: cred!.sellerProject,
                credentialId: cred!.id,
                purpose: 'seller-key-file',
              })
            ).toString('utf8');
            const file = JSON.parse(text) as { private_key?: string };
            if (sellerKeys) {
              // The stored key file has no private key; the token holds the key under its label.
              expect(file).not.toHaveProperty('private_key');
              expect(await signingKeys!.has(sellerKeyLabel(cred!.keyId))).toBe(true);
            } else search.addPem(file.private_key);
            const client = new NoonClient({
              environment: { local: sandboxUrl! },
              userAgent: UA,
              timeoutMs: 5000,
            });
            try {
              return await new NoonSession(client, credentialsOf(text, signingKeys), {
                projectCode: cred!.sellerProject,
              }).whoami();
            } finally {
              await client.close();
            }
          });
          expect(who.keyId).toBe(cred!.keyId);
        } finally {
          await store.close();
        }
      } finally {
        expect(await stopDev(dev)).toBe(0);
      }
      // No master key was made or written anywhere in the data folder, and the logs hold no seller key.
      expect(existsSync(join(dir, 'master.key'))).toBe(false);
      expect(dev.output()).toMatch(/noon-connect dev stopped/);
      search.capture('dev output', dev.output());
      if (!sellerKeys) expect(search.count('PEM')).toBeGreaterThan(0);
      expect(search.findings()).toEqual([]);
    }, 120_000);
});
