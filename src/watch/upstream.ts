import type { IEvent, IWatchCreateRequest } from 'etcd3';
import type { Keyspace } from '../core/keys.js';
import { ClosedError } from '../errors.js';
import { toKeyValue } from './decode.js';
import type { EtcdRange } from './range.js';
import type { KeyValue, KvEvent, WatchBatch } from './types.js';

/** One subscriber of an upstream watch. */
export interface Sink {
  /**
   * Only batches at or above this revision are delivered. `0n` means "from now": the sink
   * first gets a `progress` batch at the revision its watch starts after, so it knows from
   * which revision on it sees every change.
   */
  readonly from: bigint;
  /** Set for concord's own consumers (view caches), which `watchStats` does not count as subscribers. */
  readonly internal?: boolean;
  next(batch: WatchBatch): void;
  error(err: unknown): void;
  complete(): void;
}

/**
 * One server-side etcd watch and the subscribers it feeds. It remembers the last revision it
 * delivered, so it can be re-created after any interruption from exactly the next revision
 * and drop whatever etcd sends again.
 */
export class Upstream {
  readonly sinks = new Set<Sink>();
  /** The watch id on the current stream while a create has been sent and not cancelled. */
  watchId: string | undefined;
  /** Highest revision delivered (or covered by a snapshot). Meaningful once `positioned`. */
  lastRevision = 0n;
  /** Whether `lastRevision` is known; before that the watch starts at etcd's current revision. */
  positioned = false;
  private fragments: IEvent[] = [];
  private resyncAbort: AbortController | undefined;
  /** "From now" sinks still waiting to learn the revision they start after. */
  private readonly unannounced = new Set<Sink>();

  constructor(
    readonly range: EtcdRange,
    readonly prevKv: boolean,
    /** Set for upstreams shared by every subscriber of the range. */
    readonly shareKey: string | undefined,
    fromRevision: bigint | undefined,
    /** etcd filters out puts (NOPUT): for waits that only count keys going away. */
    readonly deletesOnly = false,
  ) {
    if (fromRevision !== undefined) {
      this.lastRevision = fromRevision - 1n;
      this.positioned = true;
    }
  }

  /** A compaction re-read is under way; the upstream is not registered on the stream meanwhile. */
  get resyncing(): boolean {
    return this.resyncAbort !== undefined;
  }

  /** Marks a compaction re-read as started; the signal aborts when the upstream is dropped. */
  startResync(): AbortSignal {
    this.resyncAbort = new AbortController();
    return this.resyncAbort.signal;
  }

  /** Stops a re-read in progress (the upstream was dropped or the hub closed). */
  abortResync(): void {
    this.resyncAbort?.abort(new ClosedError('the watch was dropped'));
    this.resyncAbort = undefined;
  }

  /** Adds a sink; a "from now" sink is told its starting revision as soon as it is known. */
  add(sink: Sink): void {
    this.sinks.add(sink);
    if (sink.from !== 0n) return;
    if (this.positioned) sink.next({ type: 'progress', revision: this.lastRevision });
    else this.unannounced.add(sink);
  }

  /** Removes a sink; returns how many remain. */
  remove(sink: Sink): number {
    this.sinks.delete(sink);
    this.unannounced.delete(sink);
    return this.sinks.size;
  }

  /** The create request that resumes this watch right after what it delivered. */
  createRequest(watchId: string): IWatchCreateRequest {
    this.fragments = [];
    return {
      key: this.range.key,
      ...(this.range.rangeEnd ? { range_end: this.range.rangeEnd } : {}),
      start_revision: this.positioned ? (this.lastRevision + 1n).toString() : '0',
      progress_notify: true,
      prev_kv: this.prevKv,
      ...(this.deletesOnly ? { filters: ['Noput' as const] } : {}),
      watch_id: watchId,
      fragment: true,
    };
  }

  /** Records the revision etcd reported on creation when the watch had no starting point. */
  onCreated(headerRevision: bigint): void {
    if (this.positioned) return;
    // etcd starts a watch without start_revision right after the revision in this header.
    this.lastRevision = headerRevision;
    this.positioned = true;
    const waiting = [...this.unannounced];
    this.unannounced.clear();
    for (const sink of waiting) {
      if (this.sinks.has(sink)) sink.next({ type: 'progress', revision: headerRevision });
    }
  }

  /**
   * Takes one response's events (or a fragment of one) and delivers every complete revision
   * above `lastRevision`, one batch per revision, in order.
   */
  onEvents(keys: Keyspace, events: IEvent[], fragment: boolean): void {
    if (fragment) {
      this.fragments.push(...events);
      return;
    }
    const all = this.fragments.length > 0 ? [...this.fragments, ...events] : events;
    this.fragments = [];
    let batch: KvEvent[] = [];
    let batchRevision = 0n;
    for (const raw of all) {
      const revision = BigInt(raw.kv.mod_revision);
      if (revision <= this.lastRevision) continue;
      if (revision !== batchRevision && batch.length > 0) this.deliverEvents(batchRevision, batch);
      if (revision !== batchRevision) batch = [];
      batchRevision = revision;
      batch.push(toEvent(keys, raw));
    }
    if (batch.length > 0) this.deliverEvents(batchRevision, batch);
  }

  /** A progress notification: nothing in the range changed up to `revision`. */
  onProgress(revision: bigint): void {
    if (!this.positioned || revision <= this.lastRevision) return;
    this.lastRevision = revision;
    this.deliver({ type: 'progress', revision });
  }

  /**
   * An in-order answer to a progress request, which covers every watch of the stream: like
   * {@link onProgress}, unless a fragmented response is half received (its events may be at or
   * below `revision`; advancing past them would drop them).
   */
  onStreamProgress(revision: bigint): void {
    if (this.fragments.length === 0) this.onProgress(revision);
  }

  /** Delivers a re-read of the range and continues from its revision. */
  onResync(revision: bigint, snapshot: ReadonlyMap<string, KeyValue>, compactRevision: bigint): void {
    this.resyncAbort = undefined;
    this.lastRevision = revision;
    this.positioned = true;
    this.deliver({ type: 'resync', revision, snapshot, compactRevision });
  }

  private deliverEvents(revision: bigint, events: KvEvent[]): void {
    this.lastRevision = revision;
    this.deliver({ type: 'events', revision, events });
  }

  private deliver(batch: WatchBatch): void {
    for (const sink of [...this.sinks]) {
      if (batch.revision >= sink.from || batch.type === 'resync') sink.next(batch);
    }
  }
}

function toEvent(keys: Keyspace, raw: IEvent): KvEvent {
  const event: KvEvent = { type: raw.type === 'Delete' ? 'delete' : 'put', kv: toKeyValue(keys, raw.kv) };
  if (raw.prev_kv) event.prev = toKeyValue(keys, raw.prev_kv);
  return event;
}
