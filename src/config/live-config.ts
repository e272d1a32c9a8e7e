import { defer, Observable, type Subscriber, type Subscription } from 'rxjs';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkName, checkOptions, checkSignal } from '../core/validate.js';
import { ClosedError, ConfigNotLoadedError, ConfigValidationError, InvalidArgumentError } from '../errors.js';
import { hubOf } from '../watch/hub.js';
import type { View } from '../watch/types.js';
import { deepEqual, deepFreeze } from './data.js';
import { type ConfigRules, configRules, type Evaluation } from './evaluate.js';
import { Judge } from './judge.js';
import { checkPath } from './tree.js';
import type { ConfigError, ConfigLoadOptions, ConfigSetOptions } from './types.js';
import { writeConfig } from './writer.js';

/** Set by LiveConfig's static block: the one way to construct a LiveConfig. */
let construct: <T>(runtime: Runtime, prefix: unknown, options: unknown) => LiveConfig<T>;

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Typed, validated, last-known-good configuration from the keys under one etcd prefix.
 *
 * Keys map to a nested object by their `/` segments below the prefix (`app/db/pool` = `20`
 * is `{ db: { pool: 20 } }`); values are JSON, and a value that is not JSON is a string. The
 * object is merged over `defaults` (deeply) and validated by `schema`. Each etcd revision is
 * judged whole, so a transaction changing several keys is one change, never a half-applied
 * one.
 *
 * Watching is lazy and shared: the first subscriber of `value$` or `errors$` (or `load()`)
 * starts one read and one watch through the Concord's hub, which every config and view of
 * the same prefix in the process shares; the last one leaving stops it. While nothing
 * watches, `current()` throws rather than return a value that may be stale.
 */
export class LiveConfig<T> implements AsyncDisposable {
  /** The watched prefix, always ending in '/' (or '' for the whole keyspace). */
  readonly prefix: string;
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
  readonly #view$: Observable<View>;
  readonly #values = new Set<Subscriber<T>>();
  readonly #errorSubs = new Set<Subscriber<ConfigError>>();
  readonly #waiters = new Set<Waiter<T>>();
  /** Subscribers of value$ and errors$, plus one for load(). */
  #holders = 0;
  #held = false;
  #upstream: Subscription | undefined;
  /** Bumped whenever watching stops, so a slow (async) validation of an old view is dropped. */
  #generation = 0;
  /** The newest View received, valid or not: what `revisionOf` answers from. */
  #latest: View | undefined;
  #good: { value: T; revision: bigint } | undefined;
  /** The latest evaluation failed: set until a valid one. */
  #failure: ConfigValidationError | undefined;
  /** The watch itself failed (e.g. permission denied): reported to load() after a synchronous failure. */
  #broken: unknown;
  #closed = false;

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
    const range = { prefix: this.prefix };
    this.#view$ = defer(() => hubOf(runtime).view(range));
    this.value$ = new Observable<T>((subscriber) => this.#attach(this.#values, subscriber, true));
    this.errors$ = new Observable<ConfigError>((subscriber) =>
      this.#attach(this.#errorSubs, subscriber, false),
    );
  }

  /**
   * The latest valid config, synchronously. Throws `ConfigNotLoadedError` while nothing
   * watches the config (subscribe to `value$` or `await load()` first) or before its first
   * read completes, and `ConfigValidationError` when the config has never been valid since
   * watching started.
   */
  current(): T {
    if (this.#good) return this.#good.value;
    if (this.#failure) {
      throw new ConfigValidationError(
        `config '${this.prefix}' has no valid value yet: ${this.#failure.message}`,
        { key: this.#failure.key, revision: this.#failure.revision, issues: this.#failure.issues },
      );
    }
    if (this.#closed) throw new ClosedError(`config '${this.prefix}' is closed`);
    throw new ConfigNotLoadedError(
      this.#holders > 0
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
    if (this.#closed) throw new ClosedError(`config '${this.prefix}' is closed`);
    this.#runtime.assertOpen('config.load');
    const signal = options?.signal;
    signal?.throwIfAborted();
    if (!this.#held) {
      this.#held = true;
      this.#acquire();
    }
    if (this.#good) return this.#good.value;
    if (this.#failure) throw this.#failure;
    if (!this.#held) throw this.#broken;
    return this.#runtime.monitor.bounded('config.load', options?.signal, (bounded) => this.#wait(bounded));
  }

  /** Waits for the first valid value (or a failure), or until `signal` aborts. */
  #wait(signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        reject(signal.reason);
      };
      const waiter: Waiter<T> = {
        resolve: (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /**
   * The mod revision (revision of the last write) of the key at `path` in the newest revision
   * seen, valid or not, or `0n` when the key does not exist: the value to pass as
   * `ifRevision`. Throws `ConfigNotLoadedError` like {@link current}.
   */
  revisionOf(path: string): bigint {
    checkPath(path);
    if (!this.#latest) {
      throw new ConfigNotLoadedError(
        `config '${this.prefix}' is not loaded: subscribe to value$ or await load() first`,
      );
    }
    return this.#latest.entries.get(this.prefix + path)?.modRevision ?? 0n;
  }

  /**
   * Writes `value` as JSON to the key `path` below the prefix (`undefined` deletes the key)
   * and resolves with the revision of the write.
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
  set(path: string, value: unknown, options?: ConfigSetOptions): Promise<bigint> {
    const target = { runtime: this.#runtime, prefix: this.prefix, rules: this.#rules, closed: this.#closed };
    return writeConfig(target, path, value, options);
  }

  /**
   * Stops watching: `value$` and `errors$` subscribers complete, a pending `load()` rejects
   * with `ClosedError`, and later `set`/`load` calls throw it. Idempotent.
   */
  async close(): Promise<void> {
    this.#shutdown();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #attach<V>(set: Set<Subscriber<V>>, subscriber: Subscriber<V>, replay: boolean): () => void {
    if (this.#closed) {
      subscriber.complete();
      return () => undefined;
    }
    set.add(subscriber);
    if (replay && this.#good) (subscriber as Subscriber<unknown>).next(this.#good.value);
    this.#acquire();
    return () => {
      set.delete(subscriber);
      this.#release();
    };
  }

  #acquire(): void {
    this.#holders++;
    if (this.#holders > 1) return;
    this.#broken = undefined;
    const generation = this.#generation;
    const judge = new Judge(this.prefix, this.#rules, (outcome, revision) =>
      this.#publish(outcome, revision, generation),
    );
    this.#upstream = this.#view$.subscribe({
      next: (view) => {
        this.#latest = view;
        judge.judge(view);
      },
      error: (err) => this.#onBroken(err, generation),
      complete: () => {
        if (generation === this.#generation) this.#shutdown();
      },
    });
  }

  #release(): void {
    this.#holders--;
    if (this.#holders > 0) return;
    this.#generation++;
    this.#upstream?.unsubscribe();
    this.#upstream = undefined;
    this.#latest = undefined;
    this.#good = undefined;
    this.#failure = undefined;
  }

  #dropHold(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#release();
  }

  #publish(outcome: Evaluation, revision: bigint, generation: number): void {
    if (generation !== this.#generation) return;
    if (outcome.ok) {
      this.#failure = undefined;
      const value = outcome.value as T;
      if (this.#good && deepEqual(this.#good.value, value)) {
        this.#good.revision = revision;
        return;
      }
      this.#good = { value: deepFreeze(value), revision };
      const waiters = [...this.#waiters];
      this.#waiters.clear();
      for (const waiter of waiters) waiter.resolve(value);
      for (const subscriber of [...this.#values]) subscriber.next(value);
      return;
    }
    const where = outcome.path === undefined ? '' : ` (key '${outcome.path}')`;
    const error = new ConfigValidationError(
      `config '${this.prefix}' at revision ${revision} is invalid${where}: ${outcome.issues.join('; ')}`,
      { key: outcome.path, revision, issues: outcome.issues },
    );
    this.#failure = error;
    this.#runtime.log.warn('config: rejected an invalid revision, keeping the last valid value', {
      prefix: this.prefix,
      key: outcome.path,
      revision: revision.toString(),
      issues: outcome.issues,
    });
    if (!this.#good) {
      const waiters = [...this.#waiters];
      this.#waiters.clear();
      for (const waiter of waiters) waiter.reject(error);
    }
    for (const subscriber of [...this.#errorSubs]) subscriber.next(error);
  }

  // The hub gave up on the prefix (e.g. permission denied): nothing more can be known.
  #onBroken(err: unknown, generation: number): void {
    if (generation !== this.#generation) return;
    this.#broken = err;
    const { values, errors, waiters } = this.#detachAll();
    // Each subscriber's teardown releases its hold; the watch stops with the last one.
    for (const subscriber of values) subscriber.error(err);
    for (const subscriber of errors) subscriber.error(err);
    for (const waiter of waiters) waiter.reject(err);
  }

  /** Forgets every subscriber and waiter (handing them back to be ended) and releases the watch. */
  #detachAll(): { values: Subscriber<T>[]; errors: Subscriber<ConfigError>[]; waiters: Waiter<T>[] } {
    const detached = { values: [...this.#values], errors: [...this.#errorSubs], waiters: [...this.#waiters] };
    this.#values.clear();
    this.#errorSubs.clear();
    this.#waiters.clear();
    this.#dropHold();
    return detached;
  }

  #shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    const { values, errors, waiters } = this.#detachAll();
    for (const subscriber of values) subscriber.complete();
    for (const subscriber of errors) subscriber.complete();
    const closed = new ClosedError(`config '${this.prefix}' was closed`);
    for (const waiter of waiters) waiter.reject(closed);
  }
}

function normalizePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', 'must be a string', prefix);
  if (prefix === '') return '';
  checkName('prefix', prefix);
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** @internal Creates a LiveConfig (`concord.config(prefix, options)`); validates both arguments. */
export function createLiveConfig<T>(runtime: Runtime, prefix: unknown, options: unknown): LiveConfig<T> {
  return construct<T>(runtime, prefix, options);
}
