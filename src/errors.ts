/**
 * The error class behind each {@link ConcordErrorCode}: what {@link isConcordError} narrows to
 * when given a code.
 */
export interface ConcordErrorByCode {
  INVALID_ARGUMENT: InvalidArgumentError;
  LOCK_LOST: LockLostError;
  LEADERSHIP_LOST: LeadershipLostError;
  SESSION_LOST: SessionLostError;
  CONFIG_VALIDATION: ConfigValidationError;
  CONFIG_NOT_LOADED: ConfigNotLoadedError;
  NOT_CONNECTED: NotConnectedError;
  PERMISSION_DENIED: PermissionDeniedError;
  AUTHENTICATION_FAILED: AuthenticationFailedError;
  CONFLICT: ConflictError;
  CLOSED: ClosedError;
  SLOW_CONSUMER: SlowConsumerError;
  INSTANCE_REMOVED: InstanceRemovedError;
  DRAIN: DrainError;
  DRAIN_TIMEOUT: DrainTimeoutError;
  ROLLOUT_REJECTED: RolloutRejectedError;
}

/**
 * Machine-readable codes carried by every {@link ConcordError}.
 */
export type ConcordErrorCode = keyof ConcordErrorByCode;

// The package ships an ESM and a CommonJS build, and one process can load both (an ESM app with
// a CommonJS dependency that requires concord-etcd); each build has its own classes, so
// `instanceof` fails across them. A registry symbol is the same in every copy of the package:
// isConcordError checks it rather than the prototype chain.
const BRAND = Symbol.for('concord-etcd.ConcordError');

/**
 * Whether `err` is an error concord raised on purpose (optionally: with this `code`), from
 * either build of the package (ESM or CommonJS) or another copy of it, where `instanceof`
 * cannot tell. With a `code` it narrows `err` to that code's class, e.g.
 * `isConcordError(err, 'LOCK_LOST')` to {@link LockLostError}.
 */
export function isConcordError(err: unknown): err is ConcordError;
export function isConcordError<C extends ConcordErrorCode>(
  err: unknown,
  code: C,
): err is ConcordErrorByCode[C];
export function isConcordError(err: unknown, code?: ConcordErrorCode): boolean {
  if (typeof err !== 'object' || err === null || (err as Record<symbol, unknown>)[BRAND] !== true)
    return false;
  return code === undefined || (err as ConcordError).code === code;
}

/**
 * Base class of every error concord raises on purpose. `code` is stable across releases and
 * safe to branch on; `message` is for people. Prefer {@link isConcordError} (or checking
 * `code`) to `instanceof`, which is false for an error from the package's other build.
 */
export class ConcordError extends Error {
  /** Stable machine-readable code. */
  readonly code: ConcordErrorCode;

  constructor(code: ConcordErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    // Not enumerable: it stays out of logs, JSON and assertion diffs.
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * A public call received an argument that breaks a documented rule. Raised before anything is
 * written to etcd. `argument` names the offending argument (dotted for option fields).
 */
export class InvalidArgumentError extends ConcordError {
  /** The argument that broke the rule, e.g. `ttl` or `options.namespace`. */
  readonly argument: string;
  /** The rule it broke, e.g. `must be an integer >= 2`. */
  readonly rule: string;

  constructor(argument: string, rule: string, received?: unknown) {
    super(
      'INVALID_ARGUMENT',
      `${argument} ${rule}${received === undefined ? '' : ` (received ${describe(received)})`}`,
    );
    this.argument = argument;
    this.rule = rule;
  }
}

/** A held lock (mutex, rwlock side or semaphore permit) is gone or must be assumed gone. */
export class LockLostError extends ConcordError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LOCK_LOST', message, options);
  }
}

/** A leadership is gone or must be assumed gone; the holder must stop acting as leader. */
export class LeadershipLostError extends ConcordError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LEADERSHIP_LOST', message, options);
  }
}

/** A session's lease expired, was revoked, or could not be kept alive before its local deadline. */
export class SessionLostError extends ConcordError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SESSION_LOST', message, options);
  }
}

/** A configuration value failed validation; `issues` holds the validator's messages. */
export class ConfigValidationError extends ConcordError {
  /** The key (below the config prefix) whose write was rejected, when known. */
  readonly key: string | undefined;
  /** The etcd revision of the rejected write, when known. */
  readonly revision: bigint | undefined;
  /** Validator messages, one per problem. */
  readonly issues: readonly string[];

  constructor(
    message: string,
    details: { key?: string; revision?: bigint; issues?: readonly string[] } = {},
  ) {
    super('CONFIG_VALIDATION', message);
    this.key = details.key;
    this.revision = details.revision;
    this.issues = details.issues ?? [];
  }
}

/** A live config was asked for its value before it had read one from etcd (nothing watches it yet, or the first read is still under way). */
export class ConfigNotLoadedError extends ConcordError {
  constructor(message: string) {
    super('CONFIG_NOT_LOADED', message);
  }
}

/** etcd could not be reached (or the client was cut off) while a call needed it. */
export class NotConnectedError extends ConcordError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOT_CONNECTED', message, options);
  }
}

/** etcd refused an operation because the authenticated user lacks permission for the key. */
export class PermissionDeniedError extends ConcordError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERMISSION_DENIED', message, options);
  }
}

/** etcd rejected the credentials or TLS identity concord presented. */
export class AuthenticationFailedError extends ConcordError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AUTHENTICATION_FAILED', message, options);
  }
}

/** A compare-and-set lost: the key changed since the revision the caller named. Nothing was written. */
export class ConflictError extends ConcordError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

/** The object (Concord, session, handle) was closed before or during the call. */
export class ClosedError extends ConcordError {
  constructor(message: string) {
    super('CLOSED', message);
  }
}

/** A `watchIterator` consumer fell further behind than its buffer allows and chose `overflow: 'error'`. */
export class SlowConsumerError extends ConcordError {
  constructor(message: string) {
    super('SLOW_CONSUMER', message);
  }
}

/**
 * A registered instance's key was deleted by someone else while its session
 * lived. Reported as the `reason` of a registration's `reregistering` state: the registration
 * writes the instance again.
 */
export class InstanceRemovedError extends ConcordError {
  constructor(message: string) {
    super('INSTANCE_REMOVED', message);
  }
}

/**
 * The `signal.reason` of work scoped to a lock or a leadership (`whileHeld`, `whileLeader`) that
 * is asked to stop on purpose: its subscriber unsubscribed or the Concord is closing. The lock or
 * leadership is still held and is given up only once the work has returned (or `drainTimeoutMs`
 * has passed): finish or checkpoint the current step, then return.
 */
export class DrainError extends ConcordError {
  constructor(message: string) {
    super('DRAIN', message);
  }
}

/**
 * Scoped work did not stop in time: the key was given up while the work was still running, after
 * `drainTimeoutMs`, or because the lease ran out meanwhile. Reported as a warning to the
 * Concord's logger; the work's signal had been aborted.
 */
export class DrainTimeoutError extends ConcordError {
  /** The lock or leadership key that was given up. */
  readonly key: string;
  /** How long the work had been asked to stop when the key was given up, in ms. */
  readonly waitedMs: number;

  constructor(message: string, details: { key: string; waitedMs: number }) {
    super('DRAIN_TIMEOUT', message);
    this.key = details.key;
    this.waitedMs = details.waitedMs;
  }
}

/** One instance that rejected a config revision, as a rollout reports it. */
export interface RolloutRejection {
  /** The instance id (`concord.config(prefix, { instance })`). */
  readonly instance: string;
  /** The revision the instance judged invalid: the one rolled out or a later one. */
  readonly revision: bigint;
  /** The validator's (or the key mapping's) messages. */
  readonly issues: readonly string[];
  /** The config key (below the prefix) the rejection is blamed on, when one is. */
  readonly key?: string;
}

/**
 * `LiveConfig.rolledOut` saw instances reject the revision: each kept its last valid config.
 * `rejected` names them with their validation issues.
 */
export class RolloutRejectedError extends ConcordError {
  /** The revision whose rollout was awaited. */
  readonly revision: bigint;
  /** The instances that rejected it, sorted by id. */
  readonly rejected: readonly RolloutRejection[];
  /** The instances that had applied it when the rejection was seen. */
  readonly applied: readonly string[];

  constructor(
    message: string,
    details: { revision: bigint; rejected: readonly RolloutRejection[]; applied: readonly string[] },
  ) {
    super('ROLLOUT_REJECTED', message);
    this.revision = details.revision;
    this.rejected = details.rejected;
    this.applied = details.applied;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return typeof value;
}
