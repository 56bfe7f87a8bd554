#!/usr/bin/env node
// The noon-connect command: runs the compiled CLI (npm install builds it through the prepare script).
import './quiet-sqlite-warning.js';

// Loaded after the warning filter is in place, so nothing the CLI loads can print before it.
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
