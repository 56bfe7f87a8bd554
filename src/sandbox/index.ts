// noon-connect/sandbox: a faithful local emulator of Noon's consent page and API gateway.

export type { AdjustableClock, Clock } from './clock.js';
export { DEFAULT_SWITCHES, type Switches } from './context.js';
export { type ErrorBody, GrpcCode, SandboxError } from './errors.js';
export {
  ENDPOINTS,
  type EndpointName,
  type FaultAction,
  type FaultSpec,
  Faults,
  MALFORMED_BODIES,
} from './faults.js';
export {
  type ClientFixture,
  DEFAULT_CONFIG,
  DEFAULT_REDIRECT_URI,
  DEFAULT_SELLER_PASSWORD,
  type Fixtures,
  type IntegratorFixture,
  type SandboxConfig,
  type SellerFixture,
} from './fixtures.js';
export type { JournalEntry, JournalQuery } from './journal.js';
export type { KeyPoolStats } from './key-pool.js';
export type { KeyFile, LedgerEntry } from './model.js';
export { createSandbox, type Ledger, type Sandbox, type SandboxOptions } from './sandbox.js';
