export type {
  ConcordAuth,
  ConcordOptions,
  ConcordPolicies,
  ConcordTls,
  ConcordWatchOptions,
} from './concord.js';
export { Concord } from './concord.js';
export type { ConnectionState } from './connection.js';
export type { ConcordErrorCode } from './errors.js';
export {
  AuthenticationFailedError,
  ClosedError,
  ConcordError,
  ConfigValidationError,
  ConflictError,
  InvalidArgumentError,
  LeadershipLostError,
  LockLostError,
  NotConnectedError,
  PermissionDeniedError,
  SessionLostError,
  SlowConsumerError,
} from './errors.js';
export type { Logger } from './log.js';
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
