#!/usr/bin/env bash
# Runs the Vitest suites on another Node.js major, taken from npm's `node` package (cached by npm after the first
# run, so no other download), with node:sqlite as the SQLite driver and better-sqlite3 forbidden: this machine
# compiles native addons against Node.js 20's headers, so the copy in node_modules cannot load on 22 or 24.
#   scripts/test-on-node.sh 24                       # every suite on Node.js 24
#   scripts/test-on-node.sh 22 test/store test/connect   # some suites on Node.js 22 (any `vitest run` arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
major=${1:?usage: scripts/test-on-node.sh <node major> [vitest run arguments]}
shift
node_bin=$(npx -y -p "node@$major" node -p process.execPath)
guard=$(node -p 'require("node:url").pathToFileURL(process.argv[1]).href' "$PWD/test/node-versions/forbid-better-sqlite3.mjs")
echo "Node.js $("$node_bin" --version) from $node_bin"
# Children the tests spawn (`node`, npm, the CLI) run on the same Node.js.
export PATH="$(dirname "$node_bin"):$PATH"
export NOON_CONNECT_TEST_SQLITE_DRIVER=node:sqlite
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--import=$guard"
exec "$node_bin" node_modules/vitest/vitest.mjs run "$@"
