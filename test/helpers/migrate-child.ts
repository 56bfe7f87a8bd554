// A process that opens a store (running migrations) and exits 0 when it could; used to race two of them.
import { openStore } from '../../src/store/index.js';

const store = await openStore(process.argv[2]!);
await store.ping();
await store.close();
process.stdout.write('migrated\n');
