import type { ICompare, IRequestOp } from 'etcd3';
import { defer, Observable, type Subscriber, type Subscription } from 'rxjs';
import { errorText } from '../core/error-text.js';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkName, checkOptions, checkRevision, checkSignal, isPlainObject } from '../core/validate.js';
import {
  ClosedError,
  ConfigNotLoadedError,
  ConfigValidationError,
  ConflictError,
  InvalidArgumentError,
} from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { txnOnce } from '../etcd/txn-once.js';
import { hubOf } from '../watch/hub.js';
import { readRange } from '../watch/range.js';
import type { KeyValue, View } from '../watch/types.js';
import { deepEqual, deepFreeze } from './data.js';
import { type ConfigRules, type Evaluation, evaluate } from './evaluate.js';
import { isStandardSchema } from './standard-schema.js';
import { type ConfigEntry, decodeValue, splitPath } from './tree.js';
import type { ConfigError, ConfigLoadOptions, ConfigSetOptions } from './types.js';

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

  private readonly rules: ConfigRules;
  private readonly view$: Observable<View>;
  private readonly values = new Set<Subscriber<T>>();
  private readonly errorSubs = new Set<Subscriber<ConfigError>>();
  private readonly waiters = new Set<Waiter<T>>();
  /** Subscribers of value$ and errors$, plus one for load(). */
  private holders = 0;
  private held = false;
  private upstream: Subscription | undefined;
  /** Bumped whenever watching stops, so a slow (async) validation of an old view is dropped. */
  private generation = 0;
  /** The newest View received, valid or not: what `revisionOf` answers from. */
  private latest: View | undefined;
  /** The entries last evaluated; a View with the same entries (a resync) is not judged again. */
  private judged: ReadonlyMap<string, KeyValue> | undefined;
  private good: { value: T; revision: bigint } | undefined;
  /** The latest evaluation failed: set until a valid one. */
  private failure: ConfigValidationError | undefined;
  /** The watch itself failed (e.g. permission denied): reported to load() after a synchronous failure. */
  private broken: unknown;
  private queue: Promise<void> | undefined;
  private closed = false;

  /** @internal Use `concord.config(prefix, options)`. */
  constructor(
    private readonly runtime: Runtime,
    prefix: unknown,
    options: unknown,
  ) {
    runtime.assertOpen('config');
    this.prefix = normalizePrefix(prefix);
    assertFits('prefix', runtime.keys.key(this.prefix));
    checkOptions('options', options, ['schema', 'defaults']);
    const { schema, defaults } = (options ?? {}) as { schema?: unknown; defaults?: unknown };
    if (schema !== undefined && !isStandardSchema(schema)) {
      throw new InvalidArgumentError(
        'options.schema',
        'must be a Standard Schema v1 validator (zod, valibot, arktype, ...)',
        schema,
      );
    }
    this.rules = { schema, defaults: copyDefaults(defaults) };
    const range = { prefix: this.prefix };
    this.view$ = defer(() => hubOf(runtime).view(range));
    this.value$ = new Observable<T>((subscriber) => this.attach(this.values, subscriber, true));
    this.errors$ = new Observable<ConfigError>((subscriber) =>
      this.attach(this.errorSubs, subscriber, false),
    );
  }

  /**
   * The latest valid config, synchronously. Throws `ConfigNotLoadedError` while nothing
   * watches the config (subscribe to `value$` or `await load()` first) or before its first
   * read completes, and `ConfigValidationError` when the config has never been valid since
   * watching started.
   */
  current(): T {
    if (this.good) return this.good.value;
    if (this.failure) {
      throw new ConfigValidationError(
        `config '${this.prefix}' has no valid value yet: ${this.failure.message}`,
        { key: this.failure.key, revision: this.failure.revision, issues: this.failure.issues },
      );
    }
    if (this.closed) throw new ClosedError(`config '${this.prefix}' is closed`);
    throw new ConfigNotLoadedError(
      this.holders > 0
        ? `config '${this.prefix}' is still reading its first value from etcd`
        : `config '${this.prefix}' is not loaded: nothing watches it; subscribe to value$ or await load() first`,
    );
  }

  /**
   * Starts watching (kept until `close()`) and resolves with the first valid config, at once
   * when one is known. Rejects with `ConfigValidationError` when the config is invalid and no
   * valid value has been seen, so a service can refuse to start on a broken config; rejects
   * when `signal` aborts, on `close()`, or when the watch fails for good.
   */
  async load(options?: ConfigLoadOptions): Promise<T> {
    checkOptions('options', options, ['signal']);
    checkSignal('options.signal', options?.signal);
    if (this.closed) throw new ClosedError(`config '${this.prefix}' is closed`);
    this.runtime.assertOpen('config.load');
    const signal = options?.signal;
    signal?.throwIfAborted();
    if (!this.held) {
      this.held = true;
      this.acquire();
    }
    if (this.good) return this.good.value;
    if (this.failure) throw this.failure;
    if (!this.held) throw this.broken;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter<T> = {
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /**
   * The mod revision (revision of the last write) of the key at `path` in the newest revision
   * seen, valid or not, or `0n` when the key does not exist: the value to pass as
   * `ifRevision`. Throws `ConfigNotLoadedError` like {@link current}.
   */
  revisionOf(path: string): bigint {
    checkPath(path);
    if (!this.latest) {
      throw new ConfigNotLoadedError(
        `config '${this.prefix}' is not loaded: subscribe to value$ or await load() first`,
      );
    }
    return this.latest.entries.get(this.prefix + path)?.modRevision ?? 0n;
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
  async set(path: string, value: unknown, options?: ConfigSetOptions): Promise<bigint> {
    checkPath(path);
    checkOptions('options', options, ['ifRevision']);
    checkRevision('options.ifRevision', options?.ifRevision);
    if (this.closed) throw new ClosedError(`config '${this.prefix}' is closed`);
    this.runtime.assertOpen('config.set');
    const key = this.prefix + path;
    const etcdKey = this.runtime.keys.key(key);
    const bytes = value === undefined ? undefined : Buffer.from(toJson(value), 'utf8');
    assertFits(bytes ? 'value' : 'path', etcdKey, bytes);
    const ifRevision = options?.ifRevision;
    try {
      const snapshot = await readRange(
        this.runtime.etcd,
        this.runtime.keys,
        this.runtime.keys.prefixRange(this.prefix),
        this.runtime.hubSettings.pageSize,
      );
      const existing = snapshot.entries.get(key)?.modRevision ?? 0n;
      if (ifRevision !== undefined && existing !== ifRevision)
        throw this.conflict(path, existing, ifRevision);
      const entries: ConfigEntry[] = [];
      for (const kv of snapshot.entries.values()) {
        if (kv.key !== key) entries.push({ path: this.pathOf(kv.key), value: decodeValue(kv.value) });
      }
      if (bytes) entries.push({ path, value: decodeValue(bytes) });
      const outcome = await evaluate(entries, [path], this.rules);
      if (!outcome.ok) {
        throw new ConfigValidationError(
          `config.set: writing '${path}' would make config '${this.prefix}' invalid: ${outcome.issues.join('; ')}`,
          { key: outcome.path ?? path, issues: outcome.issues },
        );
      }
      const compare: ICompare[] =
        ifRevision === undefined
          ? []
          : [{ key: etcdKey, target: 'Mod', result: 'Equal', mod_revision: ifRevision.toString() }];
      const op: IRequestOp = bytes
        ? { request_put: { key: etcdKey, value: bytes } }
        : { request_delete_range: { key: etcdKey } };
      // A compare-and-set runs exactly once: a retry after its first attempt landed would report
      // a conflict. A plain write is safe to retry (etcd3's policy moves on to another member).
      const request = { compare, success: [op], failure: [] };
      const res = await (compare.length > 0
        ? txnOnce(this.runtime.etcd, request)
        : this.runtime.etcd.kv.txn(request));
      if (!res.succeeded) throw this.conflict(path, undefined, ifRevision ?? 0n);
      return BigInt(res.header.revision);
    } catch (err) {
      throw toConcordError(err, 'config.set');
    }
  }

  /**
   * Stops watching: `value$` and `errors$` subscribers complete, a pending `load()` rejects
   * with `ClosedError`, and later `set`/`load` calls throw it. Idempotent.
   */
  async close(): Promise<void> {
    this.shutdown();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private attach<V>(set: Set<Subscriber<V>>, subscriber: Subscriber<V>, replay: boolean): () => void {
    if (this.closed) {
      subscriber.complete();
      return () => undefined;
    }
    set.add(subscriber);
    if (replay && this.good) (subscriber as Subscriber<unknown>).next(this.good.value);
    this.acquire();
    return () => {
      set.delete(subscriber);
      this.release();
    };
  }

  private acquire(): void {
    this.holders++;
    if (this.holders > 1) return;
    this.broken = undefined;
    const generation = this.generation;
    this.upstream = this.view$.subscribe({
      next: (view) => this.onView(view, generation),
      error: (err) => this.onBroken(err, generation),
      complete: () => {
        if (generation === this.generation) this.shutdown();
      },
    });
  }

  private release(): void {
    this.holders--;
    if (this.holders > 0) return;
    this.generation++;
    this.upstream?.unsubscribe();
    this.upstream = undefined;
    this.latest = undefined;
    this.judged = undefined;
    this.good = undefined;
    this.failure = undefined;
    this.queue = undefined;
  }

  private dropHold(): void {
    if (!this.held) return;
    this.held = false;
    this.release();
  }

  private onView(view: View, generation: number): void {
    this.latest = view;
    const previous = this.judged;
    if (previous && sameEntries(previous, view.entries)) return;
    this.judged = view.entries;
    const changed = this.changedPaths(previous, view);
    const entries: ConfigEntry[] = [];
    for (const kv of view.entries.values()) {
      entries.push({ path: this.pathOf(kv.key), value: decodeValue(kv.value) });
    }
    // Revisions are judged strictly in order, even when an asynchronous validator answers
    // out of order; with a synchronous one the value is published before this returns.
    const step = (): Promise<void> | undefined => {
      const outcome = evaluate(entries, changed, this.rules);
      if (outcome instanceof Promise) return outcome.then((o) => this.publish(o, view.revision, generation));
      this.publish(outcome, view.revision, generation);
      return undefined;
    };
    if (this.queue) {
      this.queue = this.queue.then(step);
    } else {
      const pending = step();
      if (!pending) return;
      this.queue = pending;
    }
    const queued = this.queue;
    const settle = (): void => {
      if (this.queue === queued) this.queue = undefined;
    };
    queued.then(settle, settle);
  }

  private publish(outcome: Evaluation, revision: bigint, generation: number): void {
    if (generation !== this.generation) return;
    if (outcome.ok) {
      this.failure = undefined;
      const value = outcome.value as T;
      if (this.good && deepEqual(this.good.value, value)) {
        this.good.revision = revision;
        return;
      }
      this.good = { value: deepFreeze(value), revision };
      const waiters = [...this.waiters];
      this.waiters.clear();
      for (const waiter of waiters) waiter.resolve(value);
      for (const subscriber of [...this.values]) subscriber.next(value);
      return;
    }
    const where = outcome.path === undefined ? '' : ` (key '${outcome.path}')`;
    const error = new ConfigValidationError(
      `config '${this.prefix}' at revision ${revision} is invalid${where}: ${outcome.issues.join('; ')}`,
      { key: outcome.path, revision, issues: outcome.issues },
    );
    this.failure = error;
    this.runtime.log.warn('config: rejected an invalid revision, keeping the last valid value', {
      prefix: this.prefix,
      key: outcome.path,
      revision: revision.toString(),
      issues: outcome.issues,
    });
    if (!this.good) {
      const waiters = [...this.waiters];
      this.waiters.clear();
      for (const waiter of waiters) waiter.reject(error);
    }
    for (const subscriber of [...this.errorSubs]) subscriber.next(error);
  }

  // The hub gave up on the prefix (e.g. permission denied): nothing more can be known.
  private onBroken(err: unknown, generation: number): void {
    if (generation !== this.generation) return;
    this.broken = err;
    const { values, errors, waiters } = this.detachAll();
    // Each subscriber's teardown releases its hold; the watch stops with the last one.
    for (const subscriber of values) subscriber.error(err);
    for (const subscriber of errors) subscriber.error(err);
    for (const waiter of waiters) waiter.reject(err);
  }

  /** Forgets every subscriber and waiter (handing them back to be ended) and releases the watch. */
  private detachAll(): { values: Subscriber<T>[]; errors: Subscriber<ConfigError>[]; waiters: Waiter<T>[] } {
    const detached = { values: [...this.values], errors: [...this.errorSubs], waiters: [...this.waiters] };
    this.values.clear();
    this.errorSubs.clear();
    this.waiters.clear();
    this.dropHold();
    return detached;
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    const { values, errors, waiters } = this.detachAll();
    for (const subscriber of values) subscriber.complete();
    for (const subscriber of errors) subscriber.complete();
    const closed = new ClosedError(`config '${this.prefix}' was closed`);
    for (const waiter of waiters) waiter.reject(closed);
  }

  private pathOf(key: string): string {
    return key.slice(this.prefix.length);
  }

  // Paths whose key was written or deleted since the previous evaluation, writes first: the
  // candidates to blame when this revision turns out invalid.
  private changedPaths(previous: ReadonlyMap<string, KeyValue> | undefined, view: View): string[] {
    const changed: string[] = [];
    for (const kv of view.entries.values()) {
      if (previous?.get(kv.key)?.modRevision !== kv.modRevision) changed.push(this.pathOf(kv.key));
    }
    if (previous) {
      for (const key of previous.keys()) if (!view.entries.has(key)) changed.push(this.pathOf(key));
    }
    return changed;
  }

  private conflict(path: string, actual: bigint | undefined, expected: bigint): ConflictError {
    const now =
      actual === undefined
        ? 'was written meanwhile'
        : actual === 0n
          ? 'does not exist'
          : `is at revision ${actual}`;
    return new ConflictError(
      `config.set: key '${path}' ${now}, not at ifRevision ${expected}${expected === 0n ? ' (absent)' : ''}; nothing was written`,
    );
  }
}

function normalizePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', 'must be a string', prefix);
  if (prefix === '') return '';
  checkName('prefix', prefix);
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

function checkPath(path: unknown): asserts path is string {
  checkName('path', path);
  if (!splitPath(path)) {
    throw new InvalidArgumentError('path', "must be '/'-separated non-empty segments, like 'db/pool'", path);
  }
}

function copyDefaults(defaults: unknown): unknown {
  if (defaults === undefined) return undefined;
  if (!isPlainObject(defaults))
    throw new InvalidArgumentError('options.defaults', 'must be a plain object', defaults);
  return deepFreeze(JSON.parse(toJson(defaults, 'options.defaults')));
}

/** JSON text of `value`; anything JSON would silently drop or alter is an InvalidArgumentError. */
function toJson(value: unknown, argument = 'value'): string {
  const rule = 'must be JSON data (objects, arrays, strings, finite numbers, booleans, null)';
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, item: unknown) => {
      if (
        typeof item === 'function' ||
        typeof item === 'symbol' ||
        typeof item === 'bigint' ||
        (typeof item === 'number' && !Number.isFinite(item))
      ) {
        throw new InvalidArgumentError(argument, rule, item);
      }
      return item;
    });
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(argument, `${rule}; ${errorText(err)}`);
  }
  if (text === undefined) throw new InvalidArgumentError(argument, rule, value);
  return text;
}

function sameEntries(a: ReadonlyMap<string, KeyValue>, b: ReadonlyMap<string, KeyValue>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [key, kv] of a) if (b.get(key)?.modRevision !== kv.modRevision) return false;
  return true;
}
