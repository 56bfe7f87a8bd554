// Loaded with --import (through NODE_OPTIONS, so every child process too) in the test legs that run on Node.js
// 22 and 24. This machine compiles native addons against Node.js 20, so the better-sqlite3 in node_modules cannot
// serve those legs, and they must test node:sqlite: anything that tries to load better-sqlite3 fails here, loudly.
const dlopen = process.dlopen;

process.dlopen = function dlopenExceptBetterSqlite(module, filename, ...rest) {
  if (/better[-_]sqlite3/.test(String(filename)))
    throw new Error(
      `better-sqlite3 must not load on this test leg (Node.js ${process.version} tests node:sqlite): ${filename}`,
    );
  return dlopen.call(this, module, filename, ...rest);
};
