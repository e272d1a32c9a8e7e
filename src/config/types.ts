import type { ConfigValidationError } from '../errors.js';
import type { ConfigObject } from './data.js';
import type { InferSchemaInput, InferSchemaOutput, StandardSchemaV1 } from './standard-schema.js';

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
}

/** Options of `LiveConfig.set`. */
export interface ConfigSetOptions {
  /**
   * Compare-and-set: write only if the key's mod revision (the revision of its last write)
   * still equals this. `0n` means "only if the key does not exist". Get it from
   * `LiveConfig.revisionOf(path)` or from the previous `set`'s result. A mismatch throws
   * `ConflictError` and writes nothing.
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
