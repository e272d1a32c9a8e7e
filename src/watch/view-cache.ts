import type { Subscriber, TeardownLogic } from 'rxjs';
import { ClosedError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import type { RangeSnapshot } from './range.js';
import type { KeyValue, WatchBatch } from './types.js';
import type { Sink } from './upstream.js';
import { VersionedMap } from './versioned-map.js';

/**
 * What a view keeps for each key instead of its KeyValue (e.g. discovery keeps the parsed
 * instance, so it holds no raw values). `project` must not throw; it is called once per write
 * of a key (key and mod revision) while the cache lives, whatever the number of subscribers.
 */
export interface Projection<T extends object> {
  /** Names the projection: one cache is shared per range and projection id. */
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
 * The shared, materialized state of one prefix under one projection. The first subscriber
 * triggers one paginated read and one watch from the revision after it; later subscribers get
 * the cached View at once. Every subscriber sees the same View objects in the same order, and a
 * View never changes once handed out. A new revision costs O(keys changed), not a copy of the
 * prefix.
 */
export class ViewCache<T extends object> {
  private readonly subs = new Set<Subscriber<CachedView<T>>>();
  private current: CachedView<T> | undefined;
  private detach: (() => void) | undefined;
  /** Set while the first read is under way; aborting it stops the read (and its retries). */
  private loading: AbortController | undefined;

  constructor(
    private readonly projection: Projection<T>,
    /** Reads the whole range, each key as `projection` reads it, retrying until `signal` aborts. */
    private readonly read: (signal: AbortSignal) => Promise<RangeSnapshot<T>>,
    /** Adds `sink` to the range's watch from `sink.from` on; returns the function that removes it. */
    private readonly attach: (sink: Sink) => () => void,
    /** Called whenever the cache stops (its last subscriber left, it failed or completed). */
    private readonly onIdle: () => void,
  ) {}

  /** How many subscribers this view has. */
  get subscribers(): number {
    return this.subs.size;
  }

  subscribe(subscriber: Subscriber<CachedView<T>>): TeardownLogic {
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
    let snapshot: RangeSnapshot<T>;
    try {
      snapshot = await this.read(signal);
    } catch (err) {
      // Aborted: every subscriber left (or the hub closed) while reading. Otherwise typed, so a
      // refused TLS handshake or a denied prefix is recognisable (not a raw gRPC error).
      if (!signal.aborted) this.fail(toConcordError(err, 'view'));
      return;
    }
    this.loading = undefined;
    this.detach = this.attach({
      from: snapshot.revision + 1n,
      internal: true,
      next: (batch) => this.apply(batch),
      error: (err) => this.fail(err),
      complete: () => this.complete(),
    });
    this.emit(snapshot.revision, VersionedMap.from(snapshot.entries));
  }

  private apply(batch: WatchBatch): void {
    const current = this.current;
    // Stopped during this very delivery: a sink of the same upstream served before this one
    // unsubscribed the view's last subscriber.
    if (current === undefined) return;
    if (batch.type === 'progress') {
      // Nothing changed: not emitted, but a late subscriber gets the newer revision.
      this.current = { revision: batch.revision, entries: current.entries };
    } else if (batch.type === 'resync') {
      // A new lineage: consumers compare it whole. Unchanged keys keep their projected values.
      const { projection } = this;
      const entries = new Map<string, T>();
      for (const [key, kv] of batch.snapshot) {
        const kept = current.entries.get(key);
        const same = kept !== undefined && projection.revisionOf(kept) === kv.modRevision;
        entries.set(key, same ? kept : projection.project(kv));
      }
      this.emit(batch.revision, VersionedMap.from(entries));
    } else {
      const changes = batch.events.map(
        (event) =>
          [event.kv.key, event.type === 'put' ? this.projection.project(event.kv) : undefined] as const,
      );
      this.emit(batch.revision, current.entries.update(changes));
    }
  }

  private emit(revision: bigint, entries: VersionedMap<T>): void {
    const view: CachedView<T> = { revision, entries };
    this.current = view;
    for (const sub of [...this.subs]) sub.next(view);
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
