// noon-connect/connect: the exactly-once connect flow, reconciler, orphan repair, rotation and events.

export { UsageError, type UsageErrorCode } from '../usage-error.js';
export { checkReturnPath, STATE_LENGTH } from './binding.js';
export { Connector, createConnector } from './connector.js';
export { type AttemptErrorCode, ConnectError, type ConnectErrorCode } from './errors.js';
export {
  type ConnectEvent,
  EVENT_TYPES,
  type EventType,
  eventBody,
  SIGNATURE_HEADER,
  signWebhook,
} from './events.js';
export { type RewrapReport, rewrapAll, sealContextOf } from './rewrap.js';
export {
  type CallbackOutcome,
  type ConnectionView,
  type ConnectorLogEntry,
  type ConnectorOptions,
  connectionView,
  type FailedCode,
  type HealthResult,
  type NoonParts,
  type ReconcileReport,
  type StartResult,
  type Step,
} from './types.js';
export { WebhookWorker, type WebhookWorkerOptions } from './webhooks.js';
