// Runs the CLI from its TypeScript sources, as bin/noon-connect.js runs the compiled one.
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
