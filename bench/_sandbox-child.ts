// A server process for bench/sandbox.ts: either our sandbox or the oauth2-mock-server peer, controlled over
// IPC so the load generator runs in another process (2 cores: one serves, one loads).

import { OAuth2Server } from 'oauth2-mock-server';
import { createSandbox, type Sandbox } from '../src/sandbox/index.js';
import { type ChildMsg, serveParent } from './_child.js';

type Msg = ChildMsg;

let sb: Sandbox | undefined;
let peer: OAuth2Server | undefined;

async function handle(m: Msg): Promise<unknown> {
  switch (m.op) {
    case 'start-sandbox': {
      sb = await createSandbox({ poolSize: m.args.poolSize, keyCacheDir: m.args.keyCacheDir, port: 0 });
      for (let i = 0; i < m.args.sellers; i++) {
        sb.addSeller({ email: `bench${i}@sellers.example`, projects: [{ project_code: `PRJB${i}` }] });
      }
      await sb.pool.whenFull();
      return { url: sb.url, key: sb.fixtures.integrator.key, client: sb.fixtures.client };
    }
    case 'mint':
      return Array.from(
        { length: m.args.count },
        (_, i) =>
          sb!.authorize({ projectCode: m.args.projects ? `PRJB${i % m.args.projects}` : 'PRJ20001' }).code,
      );
    case 'counts':
      return {
        tokens: sb!.world.tokens.size,
        credentials: sb!.ledger.count({ via: 'exchange' }),
        tokenCreate200: sb!.journal.count({ endpoint: 'token.create', status: 200 }),
      };
    case 'cpu':
      return process.cpuUsage();
    case 'hold-refill':
      sb!.pool.holdRefill(m.args.hold);
      return sb!.pool.stats();
    case 'pool':
      return sb!.pool.stats();
    case 'drain-pool': {
      // Take every ready key so the background worker starts refilling.
      const n = sb!.pool.stats().ready;
      await Promise.all(Array.from({ length: n }, () => sb!.pool.take()));
      return sb!.pool.stats();
    }
    case 'start-peer': {
      peer = new OAuth2Server();
      await peer.issuer.keys.generate('RS256');
      await peer.start(0, '127.0.0.1');
      return { url: peer.issuer.url };
    }
    case 'close':
      await sb?.close();
      await peer?.stop();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

serveParent(handle);
