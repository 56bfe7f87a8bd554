// `noon-connect serve`: the connector service, configured by environment variables (read once; every problem
// listed at start). Stops gracefully on SIGTERM/SIGINT: in-flight callbacks finish first.

import { ConfigError, configWarnings, ENV_VARS, parseConfig } from '../service/config.js';
import { createService, StartupError } from '../service/service.js';
import { EXIT, type Io, parseOptions, waitForStop } from './io.js';

export const SERVE_USAGE = `Usage: noon-connect serve

Runs the connector service: the connect endpoints, the dashboard, the REST API,
/healthz, /readyz and /metrics. Configured by environment variables:

${ENV_VARS.map(([k, v]) => `  ${k.padEnd(36)} ${v}`).join('\n')}

Exit codes: 0 stopped cleanly, 3 configuration refused, 1 other failure.`;

export async function serveCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const parsed = parseOptions('serve', argv, { help: { type: 'boolean', short: 'h' } }, SERVE_USAGE, io);
  if (!parsed) return EXIT.USAGE;
  if (parsed.values.help) {
    io.out(SERVE_USAGE);
    return EXIT.OK;
  }
  let service: Awaited<ReturnType<typeof createService>>;
  try {
    const config = parseConfig(process.env);
    for (const w of configWarnings(process.env)) io.err(`noon-connect serve: warning: ${w}`);
    service = await createService(config);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof StartupError) {
      io.err(`noon-connect serve: refusing to start: ${e.message}`);
      return EXIT.CONFIG;
    }
    io.err(`noon-connect serve: ${(e as Error).message}`);
    return EXIT.FAILURE;
  }
  io.out(`noon-connect serving on ${service.url} (public URL ${service.context.config.publicUrl})`);
  // Dev mode without tokens: the dashboard and API take the secret made at this start (H1).
  const restTakesDevToken = service.devToken !== undefined && service.context.config.apiToken === undefined;
  if (service.signInUrl)
    io.out(`sign in: ${service.signInUrl}${restTakesDevToken ? ' (the REST API takes the same token)' : ''}`);
  else if (restTakesDevToken)
    io.out(`REST API: Authorization: Bearer ${service.devToken} (made at this start)`);
  await waitForStop(signal);
  await service.close();
  return EXIT.OK;
}
