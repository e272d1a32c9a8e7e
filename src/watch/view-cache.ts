import type { Subscriber, TeardownLogic } from 'rxjs';
import { ClosedError } from '../errors.js';
import type { RangeKv } from '../etcd/proto/range.js';
import { toConcordError } from '../etcd/translate.js';
import { keyValueOf } from './decode.js';
import type { RangeList } from './range.js';
import type { KeyValue, KvEvent, WatchBatch } from './types.js';
import type { Sink } from './upstream.js';
import { VersionedMap } from './versioned-map.js';

/**
 * How a view turns its range into the state it shares with every subscriber: a map of entries
 * (`Concord.view`), or e.g. discovery's sorted list of parsed instances. Each step is handed the
 * state it produced last and returns the next one; states handed out are never changed. No step
 * may throw.
 */
export interface ViewFold<T, S extends { revision: bigint }> {
  /** Names the fold: one cache is shared per range and fold id. */
  readonly id: string;
  /** What the first read keeps for one key (called once per key, page by page, in key order). */
  read(key: string, kv: RangeKv): T;
  /**
   * The state of a read: every key of the range at `revision`, in etcd's key order, `values[i]`
   * read from `keys[i]`. Owns both arrays.
   */
  start(revision: bigint, keys: string[], values: T[]): S;
  /** The state after one revision's events; `state` itself when nothing it keeps changed (not emitted). */
  apply(state: S, revision: bigint, events: readonly KvEvent[]): S;
  /** The state after a re-read of the range (a new lineage, after a compaction). */
  restart(state: S, revision: bigint, snapshot: ReadonlyMap<string, KeyValue>): S;
  /** The state once etcd reported nothing changed up to `revision`: not emitted, handed to late subscribers. */
  progress(state: S, revision: bigint): S;
}

/**
 * What a map view keeps for each key instead of its KeyValue. `project` must not throw; it is
 * called once per write of a key (key and mod revision) while the cache lives, whatever the
 * number of subscribers.
 */
export interface Projection<T extends object> {
  /** Names the projection (and so its map fold). */
  readonly id: string;
  project(kv: KeyValue): T;
  /** The mod revision `value` was projected from: a resync keeps the values of unchanged keys. */
  revisionOf(value: T): bigint;
}

/** The projection of `Concord.view`: every key's KeyValue as it is. */
export const RAW: Projection<KeyValue> = {
  id: 'raw',
  project: (kv) => kv,
  revisionOf: (kv) => kv.modRevision,
};

/**
 * The state of every key under a prefix as of `revision`, each key as a projection reads it.
 * `entries` is a {@link VersionedMap}: consumers that remember the View they handled last ask
 * `entries.changedSince(last.entries)` for the keys changed since, instead of diffing whole maps.
 */
export interface CachedView<T extends object> {
  revision: bigint;
  entries: VersionedMap<T>;
}

/**
 * The fold of a map view: every key's entry as `projection` reads it, in a {@link VersionedMap},
 * so a new revision costs O(keys changed), not a copy of the prefix. A resync keeps the projected
 * values of unchanged keys.
 */
export function mapFold<T extends object>(projection: Projection<T>): ViewFold<T, CachedView<T>> {
  return {
    id: `map:${projection.id}`,
    read: (key, kv) => projection.project(keyValueOf(key, kv)),
    start: (revision, keys, values) => {
      const entries = new Map<string, T>();
      for (let i = 0; i < keys.length; i++) entries.set(keys[i]!, values[i]!);
      return { revision, entries: VersionedMap.from(entries) };
    },
    apply: (state, revision, events) => {
      const changes = events.map(
        (event) => [event.kv.key, event.type === 'put' ? projection.project(event.kv) : undefined] as const,
      );
      return { revision, entries: state.entries.update(changes) };
    },
    restart: (state, revision, snapshot) => {
      // A new lineage: consumers compare it whole. Unchanged keys keep their projected values.
      const entries = new Map<string, T>();
      for (const [key, kv] of snapshot) {
        const kept = state.entries.get(key);
        const same = kept !== undefined && projection.revisionOf(kept) === kv.modRevision;
        entries.set(key, same ? kept : projection.project(kv));
      }
      return { revision, entries: VersionedMap.from(entries) };
    },
    progress: (state, revision) => ({ revision, entries: state.entries }),
  };
}

/** The fold of `Concord.view`. */
export const RAW_VIEW = mapFold(RAW);

/**
 * The shared, materialized state of one prefix under one fold. The first subscriber triggers one
 * paginated read and one watch from the revision after it; later subscribers get the current
 * state at once. Every subscriber sees the same state objects in the same order, and a state
 * never changes once handed out.
 */
export class ViewCache<T, S extends { revision: bigint }> {
  private readonly subs = new Set<Subscriber<S>>();
  private current: S | undefined;
  private detach: (() => void) | undefined;
  /** Set while the first read is under way; aborting it stops the read (and its retries). */
  private loading: AbortController | undefined;

  constructor(
    private readonly fold: ViewFold<T, S>,
    /** Reads the whole range, each key as `fold.read` reads it, retrying until `signal` aborts. */
    private readonly read: (signal: AbortSignal) => Promise<RangeList<T>>,
    /** Adds `sink` to the range's watch from `sink.from` on; returns the function that removes it. */
    private readonly attach: (sink: Sink) => () => void,
    /** Called whenever the cache stops (its last subscriber left, it failed or completed). */
    private readonly onIdle: () => void,
  ) {}

  /** How many subscribers this view has. */
  get subscribers(): number {
    return this.subs.size;
  }

  subscribe(subscriber: Subscriber<S>): TeardownLogic {
    this.subs.add(subscriber);
    if (this.current) subscriber.next(this.current);
    else if (!this.loading) void this.load();
    return () => {
      this.subs.delete(subscriber);
      if (this.subs.size === 0) this.stop();
    };
  }

  /** Completes every subscriber (the hub is closing). */
  complete(): void {
    const subs = [...this.subs];
    this.subs.clear();
    this.stop();
    for (const sub of subs) sub.complete();
  }

  private async load(): Promise<void> {
    this.loading = new AbortController();
    const { signal } = this.loading;
    let read: RangeList<T>;
    try {
      read = await this.read(signal);
    } catch (err) {
      // Aborted: every subscriber left (or the hub closed) while reading. Otherwise typed, so a
      // refused TLS handshake or a denied prefix is recognisable (not a raw gRPC error).
      if (!signal.aborted) this.fail(toConcordError(err, 'view'));
      return;
    }
    this.loading = undefined;
    this.detach = this.attach({
      from: read.revision + 1n,
      internal: true,
      next: (batch) => this.apply(batch),
      error: (err) => this.fail(err),
      complete: () => this.complete(),
    });
    this.emit(this.fold.start(read.revision, read.keys, read.values));
  }

  private apply(batch: WatchBatch): void {
    const current = this.current;
    // Stopped during this very delivery: a sink of the same upstream served before this one
    // unsubscribed the view's last subscriber.
    if (current === undefined) return;
    const { fold } = this;
    if (batch.type === 'progress') {
      // Nothing changed: not emitted, but a late subscriber gets the newer revision.
      this.current = fold.progress(current, batch.revision);
    } else if (batch.type === 'resync') {
      this.emit(fold.restart(current, batch.revision, batch.snapshot));
    } else {
      const next = fold.apply(current, batch.revision, batch.events);
      if (next !== current) this.emit(next);
    }
  }

  private emit(state: S): void {
    this.current = state;
    for (const sub of [...this.subs]) sub.next(state);
  }

  private fail(err: unknown): void {
    const subs = [...this.subs];
    this.subs.clear();
    this.stop();
    for (const sub of subs) sub.error(err);
  }

  private stop(): void {
    this.loading?.abort(new ClosedError('the view has no subscribers'));
    this.loading = undefined;
    this.current = undefined;
    const detach = this.detach;
    this.detach = undefined;
    detach?.();
    this.onIdle();
  }
}
