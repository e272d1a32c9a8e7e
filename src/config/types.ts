import type { ConfigValidationError, RolloutRejection } from '../errors.js';
import type { Session } from '../session/session.js';
import type { ConfigObject } from './data.js';
import type { InferSchemaInput, InferSchemaOutput, StandardSchemaV1 } from './standard-schema.js';

export type { RolloutRejection } from '../errors.js';
export type { ConfigObject } from './data.js';

/** Every property optional, recursively through plain objects: the shape of `defaults`. */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** The value type of a config: the schema's output, or a plain object without a schema. */
export type ConfigValue<S extends StandardSchemaV1 | undefined> = S extends StandardSchemaV1
  ? InferSchemaOutput<S>
  : ConfigObject;

/** Options of `Concord.config`. */
export interface ConfigOptions<S extends StandardSchemaV1 | undefined = undefined> {
  /**
   * Any Standard Schema v1 validator (zod, valibot, arktype, ...). It receives the whole
   * merged config object; its output (with its transforms and defaults) is what `value$`
   * emits. Without it every mappable config is valid.
   */
  schema?: S;
  /**
   * Values used where etcd has none. Deep merge: plain objects merge key by key; a scalar or
   * array stored in etcd replaces the default at its path. Applied before validation. Must be
   * a plain object of JSON data; it is copied, so changing it later has no effect.
   */
  defaults?: S extends StandardSchemaV1 ? DeepPartial<InferSchemaInput<S>> : ConfigObject;
  /**
   * This process's id among the instances that follow the config (one key segment: no '/').
   * While the config is watched (`value$` subscribed or `load()` called), the instance reports
   * the revision it last applied or rejected (with the issues) under a session lease, in a
   * status area outside the prefix (`config-status/<prefix>/<instance>`, the prefix without
   * its trailing '/' URI-encoded into one key segment: `app/db/` → `config-status/app%2Fdb/`),
   * for writers' `rollout$` and `rolledOut`; the key goes when watching stops, the config
   * closes or the process dies (with the lease). Two live processes must not share an id. Not
   * allowed with the empty prefix, which has no outside.
   */
  instance?: string;
  /**
   * The session whose lease the status key is written under (e.g. the one the process's
   * registration uses, so the instance drops out of both at once). Only with `instance`; not
   * together with `ttl`. Without it the config makes a session of its own. Either way, once
   * that session is lost the config reports under a new session of its own.
   */
  session?: Session;
  /** TTL in seconds (integer >= 2, default 10) of the config's own session. Only with `instance`. */
  ttl?: number;
}

/** What `LiveConfig.set` and `setMany` resolve with. */
export interface ConfigWriteResult {
  /**
   * The etcd revision of the write: one for all the keys it changed. Pass it to `rollout$` or
   * `rolledOut` to follow the instances applying it.
   */
  revision: bigint;
}

/**
 * How the instances of a config stand with one revision. Instances are those whose status key
 * exists (alive, watching the config), each listed once, sorted by id. An instance counts as
 * having applied the revision when it applied that revision or any later one.
 */
export interface RolloutStatus {
  /** The revision rolled out. */
  readonly revision: bigint;
  /** Instances running a config that includes the revision (or a later one). */
  readonly applied: readonly string[];
  /** Instances whose config has been invalid since the revision (or earlier): they kept their last valid value. */
  readonly rejected: readonly RolloutRejection[];
  /** Live instances that have reported only older revisions so far. */
  readonly pending: readonly string[];
}

/** Options of `LiveConfig.rolledOut`. */
export interface RolledOutOptions {
  /**
   * Resolve once this many instances applied the revision (integer >= 1). Default: once at
   * least one did and no live instance is pending.
   */
  instances?: number;
  /** Stops waiting: the promise rejects with the signal's reason (e.g. `AbortSignal.timeout(ms)`). */
  signal?: AbortSignal;
}

/** Options of `LiveConfig.set`. */
export interface ConfigSetOptions {
  /**
   * Compare-and-set: write only if the key's mod revision (the revision of its last write)
   * still equals this. `0n` means "only if the key does not exist". Get it from
   * `LiveConfig.revisionOf(path)` or from the `revision` the previous `set` resolved with. A
   * mismatch throws `ConflictError` and writes nothing.
   *
   * It is the key's own mod revision, not the revision of the whole config: writes to other
   * keys under the prefix do not make it stale, and it is exactly what etcd's transaction
   * compares, atomically with the write.
   */
  ifRevision?: bigint;
}

/** Options of `LiveConfig.load`. */
export interface ConfigLoadOptions {
  /** Stops waiting (the config stays watched until `close()`). */
  signal?: AbortSignal;
}

/**
 * A write that was rejected: `key` is the path below the prefix it is blamed on (when one can
 * be named), `revision` the etcd revision that made the config invalid, `issues` the
 * validator's (or the key mapping's) messages.
 */
export type ConfigError = ConfigValidationError;
