// noon-connect/service: the ready-to-run connector service.

export { ConfigError, ENV_VARS, type Mode, parseConfig, type ServiceConfig } from './config.js';
export { ConnectLinks } from './links.js';
export { createLogger } from './logging.js';
export { Registry, serviceMetrics } from './metrics.js';
export {
  createService,
  type Service,
  type ServiceContext,
  type ServiceDeps,
  StartupError,
} from './service.js';
