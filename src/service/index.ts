// noon-connect/service: the ready-to-run connector service.

export { ConfigError, ENV_VARS, type Mode, parseConfig, type ServiceConfig } from './config.js';
export { type ConnectLink, ConnectLinks, LINK_TTL_MS, type LinkOptions } from './links.js';
export { createLogger } from './logging.js';
export { Registry, serviceMetrics } from './metrics.js';
export { type RetentionReport, retentionLines, retentionReport } from './retention.js';
export {
  createService,
  type Service,
  type ServiceAccess,
  type ServiceContext,
  type ServiceDeps,
  StartupError,
} from './service.js';
