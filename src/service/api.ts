// The REST API for the integrator's own backend (bearer token): see docs/service.md.

import type { RouteHandler, ServiceContext } from './service.js';

export function createApiHandler(_ctx: ServiceContext): RouteHandler {
  return async () => undefined;
}
