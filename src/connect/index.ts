// noon-connect/connect: the exactly-once connect flow, reconciler, orphan repair, rotation and events.

export { checkReturnPath, STATE_LENGTH } from './binding.js';
export {
  type CallbackOutcome,
  type ConnectionView,
  Connector,
  type ConnectorLogEntry,
  type ConnectorOptions,
  createConnector,
  type HealthResult,
  type NoonParts,
  type ReconcileReport,
  type StartResult,
  type Step,
} from './connector.js';
export { ConnectError, type ConnectErrorCode } from './errors.js';
export {
  type ConnectEvent,
  EVENT_TYPES,
  type EventType,
  eventBody,
  SIGNATURE_HEADER,
  signWebhook,
} from './events.js';
export { type RewrapReport, rewrapAll, sealContextOf } from './rewrap.js';
export { WebhookWorker, type WebhookWorkerOptions } from './webhooks.js';
