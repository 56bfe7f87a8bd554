// Keeps node:sqlite's ExperimentalWarning (printed by Node.js 22 when the built-in SQLite loads) out of the
// command's output, where it reads like a fault; every other warning is printed as usual. Only the command
// installs this: a library user's process is left as it is.
const emitWarning = process.emitWarning;

process.emitWarning = function emitWarningExceptSqlite(warning, ...rest) {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
  const text = typeof warning === 'string' ? warning : warning?.message;
  if (type === 'ExperimentalWarning' && /^SQLite is an experimental feature/.test(String(text))) return;
  return emitWarning.call(process, warning, ...rest);
};
