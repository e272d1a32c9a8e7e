export { Concord } from './concord.js';
export { LiveConfig } from './config/live-config.js';
export type {
  InferSchemaInput,
  InferSchemaOutput,
  StandardIssue,
  StandardResult,
  StandardSchemaProps,
  StandardSchemaV1,
  StandardTypes,
} from './config/standard-schema.js';
export type {
  ConfigError,
  ConfigLoadOptions,
  ConfigObject,
  ConfigOptions,
  ConfigSetOptions,
  ConfigValue,
  ConfigWriteResult,
  DeepPartial,
  RolledOutOptions,
  RolloutStatus,
} from './config/types.js';
export type { ConnectionState } from './core/connection.js';
export type { Logger, LoggerStyle } from './core/log.js';
export type { ConcordBackoff, ConcordBackoffDelay, ConcordPolicies, ConcordPolicy } from './core/policies.js';
export { Election } from './election/election.js';
export { Leadership } from './election/leadership.js';
export type { ElectionKeyLayout, ElectionOptions, LeaderInfo, WhileLeaderOptions } from './election/types.js';
export type { ConcordErrorByCode, ConcordErrorCode, RolloutRejection } from './errors.js';
export {
  AuthenticationFailedError,
  ClosedError,
  ConcordError,
  ConfigNotLoadedError,
  ConfigValidationError,
  ConflictError,
  DrainError,
  DrainTimeoutError,
  InstanceRemovedError,
  InvalidArgumentError,
  isConcordError,
  LeadershipLostError,
  LockLostError,
  NotConnectedError,
  PermissionDeniedError,
  RolloutRejectedError,
  SessionLostError,
  SlowConsumerError,
} from './errors.js';
export type { TxnOp } from './etcd/txn.js';
export type {
  CallFailedEvent,
  ConcordEvent,
  ConcordEventType,
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  ConnectionStateEvent,
  ElectionAbandonedEvent,
  ElectionCampaignEvent,
  ElectionElectedEvent,
  ElectionLostEvent,
  ElectionResignedEvent,
  EventBase,
  EventOf,
  EventRange,
  InstanceEjectedEvent,
  InstanceRestoredEvent,
  LeaderChangedEvent,
  LockAbandonedEvent,
  LockAcquiredEvent,
  LockLostEvent,
  LockPrimitive,
  LockReleasedEvent,
  LockSubject,
  LockWaitingEvent,
  LossReason,
  RegistrationStateEvent,
  RegistrationStatus,
  SessionKeepaliveEvent,
  SessionStateEvent,
  SessionStatus,
  WatchConnectedEvent,
  WatchReconnectedEvent,
  WatchResyncEvent,
  WatchStalledEvent,
  WorkBudgetLowEvent,
  WorkDrainTimeoutEvent,
  WorkStopCause,
  WorkStoppingEvent,
  WorkSubject,
} from './events/types.js';
export { KeyValueStore } from './kv/store.js';
export type { KvDeleteResult, KvPutResult, KvReadOptions } from './kv/types.js';
export { LockHandle } from './lock/handle.js';
export { Mutex } from './lock/mutex.js';
export { RWLock } from './lock/rwlock.js';
export { Semaphore } from './lock/semaphore.js';
export type { LockOptions, LockPrimitiveOptions, SemaphoreOptions, WhileHeldOptions } from './lock/types.js';
export type {
  ConcordAuth,
  ConcordOptions,
  ConcordTls,
  ConcordWatchOptions,
  UnaryTransport,
} from './options.js';
export type { ScopedWork } from './queue/work-term.js';
export { Discovery } from './service/discovery.js';
export { Picker } from './service/picker.js';
export { DEFAULT_SERVICE_PREFIX } from './service/record.js';
export { Registration } from './service/registration.js';
export { Registry } from './service/registry.js';
export type {
  DiscoveryError,
  EjectOptions,
  InstanceRegistration,
  InstanceStatus,
  InstanceUpdate,
  PickerOptions,
  PickOutcome,
  PickStrategy,
  RegisterOptions,
  RegistrationState,
  ServiceChange,
  ServiceInstance,
  ServicePrefixOptions,
} from './service/types.js';
export { Session } from './session/session.js';
export type { SessionOptions, SessionState, SessionStats } from './session/types.js';
export type {
  KeyValue,
  KvEvent,
  View,
  WatchBatch,
  WatchIteratorOptions,
  WatchOptions,
  WatchRange,
  WatchStats,
} from './watch/types.js';
