/**
 * Machine-readable codes carried by every {@link ConcordError}.
 */
export type ConcordErrorCode =
  | 'INVALID_ARGUMENT'
  | 'LOCK_LOST'
  | 'LEADERSHIP_LOST'
  | 'SESSION_LOST'
  | 'CONFIG_VALIDATION'
  | 'CONFIG_NOT_LOADED'
  | 'NOT_CONNECTED'
  | 'PERMISSION_DENIED'
  | 'AUTHENTICATION_FAILED'
  | 'CONFLICT'
  | 'CLOSED'
  | 'SLOW_CONSUMER'
  | 'INSTANCE_REMOVED';

/**
 * Base class of every error concord raises on purpose. `code` is stable across releases and
 * safe to branch on; `message` is for people.
 */
export class ConcordError extends Error {
  /** Stable machine-readable code. */
  readonly code: ConcordErrorCode;

  constructor(code: ConcordErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
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

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return typeof value;
}
