// noon-connect/service: the ready-to-run connector service.

export { type Audit, type AuditRecord, auditJson } from './audit.js';
export { ConfigError, ENV_VARS, type Mode, parseConfig, type ServiceConfig } from './config.js';
export type { ScaleSettings } from './config-scale.js';
export { LEASES, Leases } from './leases.js';
export { type ConnectLink, ConnectLinks, LINK_TTL_MS, type LinkOptions } from './links.js';
export { createLogger } from './logging.js';
export { Registry, serviceMetrics } from './metrics.js';
export { type RetentionReport, retentionLines, retentionReport } from './retention.js';
export { type PassReport, Scheduler, type SchedulerOptions } from './scheduler.js';
export {
  createService,
  type Service,
  type ServiceAccess,
  type ServiceContext,
  type ServiceDeps,
  StartupError,
} from './service.js';
export { ApiTokens, type NewToken, type Principal, TokenInputError, type TokenView } from './tokens.js';
