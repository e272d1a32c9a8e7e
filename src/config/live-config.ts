import type { Observable } from 'rxjs';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkInteger, checkName, checkOptions, checkRevision, checkSignal } from '../core/validate.js';
import { ClosedError, ConfigNotLoadedError, ConfigValidationError, InvalidArgumentError } from '../errors.js';
import { ConfigWatch } from './config-watch.js';
import { type ConfigRules, configRules } from './evaluate.js';
import { RolloutTracker, rolledOut } from './rollout.js';
import { STATUS_ROOT, statusArea } from './status.js';
import { reporterFor, type StatusReporter } from './status-reporter.js';
import { checkPath } from './tree.js';
import type {
  ConfigError,
  ConfigLoadOptions,
  ConfigSetOptions,
  ConfigWriteResult,
  RolledOutOptions,
  RolloutStatus,
} from './types.js';
import type { WriteTarget } from './writer.js';
import { writeConfig, writeConfigMany } from './writer.js';

/** Set by LiveConfig's static block: the one way to construct a LiveConfig. */
let construct: <T>(runtime: Runtime, prefix: unknown, options: unknown) => LiveConfig<T>;

/**
 * Typed, validated, last-known-good configuration from the keys under one etcd prefix.
 *
 * Keys map to a nested object by their `/` segments below the prefix (`app/db/pool` = `20`
 * is `{ db: { pool: 20 } }`); values are JSON, and a value that is not JSON is a string. The
 * object is merged over `defaults` (deeply) and validated by `schema`. Each etcd revision is
 * judged whole, so a transaction changing several keys is one change, never a half-applied
 * one. A revision costs O(keys it changed) to judge until one of them changes the config's
 * content: only then is the config patched and validated again.
 *
 * Watching is lazy and shared: the first subscriber of `value$` or `errors$` (or `load()`)
 * starts one read and one watch through the Concord's hub, which every config of the same
 * prefix in the process shares; the last one leaving stops it. While nothing watches,
 * `current()` throws rather than return a value that may be stale.
 *
 * Rollouts: a config made with an `instance` id reports, while it is watched, the revision it
 * last applied or rejected in a status area outside the prefix; any config of the prefix (in
 * any process) follows a write's revision through `rollout$` and `rolledOut`.
 */
export class LiveConfig<T> implements AsyncDisposable {
  /** The watched prefix, always ending in '/' (or '' for the whole keyspace). */
  readonly prefix: string;
  /** This process's instance id (`options.instance`), when it reports its status. */
  readonly instance: string | undefined;
  /**
   * The validated config: the current value at once on subscribe (when one is known), then
   * the new value after every revision that changes it. Values are deeply frozen and
   * compared structurally: a write that leaves the validated value equal emits nothing. An
   * invalid revision emits nothing here (see `errors$`); nothing is emitted until the first
   * valid config. Completes on `close()` or when the Concord closes.
   */
  readonly value$: Observable<T>;
  /**
   * One `ConfigValidationError` per revision that leaves the config invalid (a schema failure
   * or keys that cannot map to one object), naming the key blamed, the revision and the
   * validator's messages. Not replayed to late subscribers.
   */
  readonly errors$: Observable<ConfigError>;

  readonly #runtime: Runtime;
  readonly #rules: ConfigRules;
  readonly #reporter: StatusReporter | undefined;
  readonly #watch: ConfigWatch<T>;
  #tracker: RolloutTracker | undefined;

  static {
    construct = <T>(runtime: Runtime, prefix: unknown, options: unknown) =>
      new LiveConfig<T>(runtime, prefix, options);
  }

  private constructor(runtime: Runtime, prefix: unknown, options: unknown) {
    this.#runtime = runtime;
    runtime.assertOpen('config');
    this.prefix = normalizePrefix(prefix);
    assertFits('prefix', runtime.keys.key(this.prefix));
    this.#rules = configRules(options);
    this.#reporter = reporterFor(runtime, this.prefix, options);
    this.instance = this.#reporter ? (options as { instance: string }).instance : undefined;
    this.#watch = new ConfigWatch<T>(runtime, this.prefix, this.#rules, this.#reporter);
    this.value$ = this.#watch.value$;
    this.errors$ = this.#watch.errors$;
  }

  /**
   * The latest valid config, synchronously. Throws `ConfigNotLoadedError` while nothing
   * watches the config (subscribe to `value$` or `await load()` first) or before its first
   * read completes, and `ConfigValidationError` when the config has never been valid since
   * watching started.
   */
  current(): T {
    const { good, failure } = this.#watch;
    if (good) return good.value;
    if (failure) {
      throw new ConfigValidationError(`config '${this.prefix}' has no valid value yet: ${failure.message}`, {
        key: failure.key,
        revision: failure.revision,
        issues: failure.issues,
      });
    }
    if (this.#watch.closed) throw new ClosedError(`config '${this.prefix}' is closed`);
    throw new ConfigNotLoadedError(
      this.#watch.watching
        ? `config '${this.prefix}' is still reading its first value from etcd`
        : `config '${this.prefix}' is not loaded: nothing watches it; subscribe to value$ or await load() first`,
    );
  }

  /**
   * Starts watching (kept until `close()`) and resolves with the first valid config, at once
   * when one is known. Rejects with `ConfigValidationError` when the config is invalid and no
   * valid value has been seen, so a service can refuse to start on a broken config; rejects
   * when `signal` aborts, on `close()`, when the watch fails for good, and with
   * `NotConnectedError` when etcd stays unreachable for the Concord's `connectTimeoutMs` (the
   * config keeps watching: a later `load()` or `value$` gets the value once etcd answers).
   */
  async load(options?: ConfigLoadOptions): Promise<T> {
    checkOptions('options', options, ['signal']);
    checkSignal('options.signal', options?.signal);
    if (this.#watch.closed) throw new ClosedError(`config '${this.prefix}' is closed`);
    this.#runtime.assertOpen('config.load');
    options?.signal?.throwIfAborted();
    return this.#runtime.monitor.bounded('config.load', options?.signal, (bounded) =>
      this.#watch.load(bounded),
    );
  }

  /**
   * The mod revision (revision of the last write) of the key at `path` in the newest revision
   * seen, valid or not, or `0n` when the key does not exist: the value to pass as
   * `ifRevision`. Throws `ConfigNotLoadedError` like {@link current}.
   */
  revisionOf(path: string): bigint {
    checkPath(path);
    const latest = this.#watch.latest;
    if (!latest) {
      throw new ConfigNotLoadedError(
        `config '${this.prefix}' is not loaded: subscribe to value$ or await load() first`,
      );
    }
    return latest.entries.get(this.prefix + path)?.modRevision ?? 0n;
  }

  /**
   * Writes `value` as JSON to the key `path` below the prefix (`undefined` deletes the key)
   * and resolves with the revision of the write (`{ revision }`, for `rollout$`/`rolledOut`).
   *
   * Checked before anything is written: the path (non-empty segments), the value (JSON data,
   * finite numbers; strings are stored JSON-quoted so they read back as strings), its size
   * (etcd's request limit) and, against the keys as read just before writing, that the
   * config would still map and validate; otherwise `InvalidArgumentError` or
   * `ConfigValidationError`. That last check is a courtesy to the writer: a concurrent writer
   * can still combine into an invalid config, which watchers reject on `errors$` while
   * keeping the last good value.
   *
   * With `ifRevision`, a compare-and-set on the key's mod revision in the same etcd
   * transaction as the write: when the key was written since (or exists although `0n` was
   * given), it throws `ConflictError` and writes nothing. Such a write is sent once: when its
   * answer is lost (etcd unreachable), it rejects with `NotConnectedError` and the write may or
   * may not have landed, never with a `ConflictError` caused by its own earlier attempt. A write
   * without `ifRevision` is retried on transient failures like any other call.
   */
  set(path: string, value: unknown, options?: ConfigSetOptions): Promise<ConfigWriteResult> {
    return writeConfig(this.#target(), path, value, options);
  }

  /**
   * Writes several keys in ONE etcd transaction, so every instance judges them together and they
   * are one revision to roll out: `values` maps paths below the prefix to values (`undefined`
   * deletes the key), e.g. `{ 'db/host': 'db2', 'db/pool': 30 }`. Checked like {@link set} (all
   * keys together against the schema, at most 128 keys in one request) before anything is
   * written; retried on transient failures. Resolves with the revision of the write.
   */
  setMany(values: Record<string, unknown>): Promise<ConfigWriteResult> {
    return writeConfigMany(this.#target(), values);
  }

  /**
   * How the instances of this config's prefix (configs made with an `instance` id, in any
   * process) stand with `revision` (e.g. from `set`): at once on subscribe, then after every
   * report that changes the picture. An instance counts under `applied` once it applied that
   * revision or any later one (a later write supersedes it; a write that changed nothing for
   * the instance still counts as applied), under `rejected` (with the issues) while its config
   * has been invalid since, and under `pending` while it is alive and has only reported older
   * revisions; an instance whose lease ended (process gone, config closed) drops out of every
   * list. Never completes by itself (instances may come and go; an instance started later
   * reports the revision of its first read at once); completes when the Concord closes. Works
   * without watching the config itself: it follows the prefix's status area (one shared read and
   * server-side watch per prefix and Concord), which this config keeps following from the first
   * call until `close()`, so the rollouts of later writes are answered from memory at once.
   */
  rollout$(revision: bigint): Observable<RolloutStatus> {
    this.#checkRollout(revision);
    this.#tracker ??= new RolloutTracker(this.#runtime, statusArea(this.prefix));
    return this.#tracker.rollout$(revision);
  }

  /**
   * Waits for the rollout of `revision` (see {@link rollout$}) and resolves with the status that
   * settled it: once `options.instances` instances applied it, or by default once at least one
   * did and no live instance is pending (instances that die meanwhile drop out, so a crashed
   * instance never blocks it). Rejects with `RolloutRejectedError`, naming the instances and
   * their issues, as soon as any instance rejects it. There is no built-in timeout: without
   * live instances it waits; pass `signal` (e.g. `AbortSignal.timeout(30_000)`) to bound the
   * wait, and it rejects with the signal's reason. Rejects with `ClosedError` when the Concord
   * closes first.
   */
  async rolledOut(revision: bigint, options?: RolledOutOptions): Promise<RolloutStatus> {
    checkOptions('options', options, ['instances', 'signal']);
    checkInteger('options.instances', options?.instances, 1);
    checkSignal('options.signal', options?.signal);
    const status$ = this.rollout$(revision);
    return rolledOut(status$, { instances: options?.instances, signal: options?.signal });
  }

  /**
   * Stops watching: `value$` and `errors$` subscribers complete, a pending `load()` rejects
   * with `ClosedError`, and later `set`, `setMany`, `load`, `rollout$` and `rolledOut` calls
   * throw it. An instance's status key is removed (and the session the config created closed)
   * before this resolves. Idempotent.
   */
  async close(): Promise<void> {
    this.#watch.shutdown();
    this.#tracker?.close();
    await this.#reporter?.close();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #target(): WriteTarget {
    return { runtime: this.#runtime, prefix: this.prefix, rules: this.#rules, closed: this.#watch.closed };
  }

  #checkRollout(revision: bigint): void {
    checkRevision('revision', revision);
    if (revision === 0n) throw new InvalidArgumentError('revision', 'must be a revision >= 1', revision);
    if (this.prefix === '') {
      throw new InvalidArgumentError(
        'prefix',
        'must not be empty to follow a rollout: it has no status area',
      );
    }
    if (this.#watch.closed) throw new ClosedError(`config '${this.prefix}' is closed`);
    this.#runtime.assertOpen('config.rollout$');
  }
}

function normalizePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', 'must be a string', prefix);
  if (prefix === '') return '';
  checkName('prefix', prefix);
  const normalized = prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (normalized.startsWith(STATUS_ROOT)) {
    throw new InvalidArgumentError(
      'prefix',
      `must not be inside '${STATUS_ROOT}', where config instances report their status`,
      prefix,
    );
  }
  return normalized;
}

/** @internal Creates a LiveConfig (`concord.config(prefix, options)`); validates both arguments. */
export function createLiveConfig<T>(runtime: Runtime, prefix: unknown, options: unknown): LiveConfig<T> {
  return construct<T>(runtime, prefix, options);
}
