import type { IBackoff } from 'cockatiel';
import type { IWatchResponse } from 'etcd3';
import { Observable } from 'rxjs';
import { errorText } from '../core/error-text.js';
import type { Closable, Runtime } from '../core/runtime.js';
import { checkInteger, checkOptions, checkRevision } from '../core/validate.js';
import { ConcordError, InvalidArgumentError, PermissionDeniedError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { openWatchStream, type WatchStream } from '../etcd/watch-stream.js';
import { BoundedIterator } from './iterator.js';
import { type EtcdRange, rangeId, readRangeRetrying, resolveRange } from './range.js';
import type {
  KeyValue,
  View,
  WatchBatch,
  WatchIteratorOptions,
  WatchOptions,
  WatchRange,
  WatchStats,
} from './types.js';
import { type Sink, Upstream } from './upstream.js';
import { type CachedView, type Projection, RAW, ViewCache } from './view.js';

const HUB = Symbol('concord.watch-hub');

/** The Concord's one watch hub, created on first use. */
export function hubOf(runtime: Runtime): WatchHub {
  return runtime.service(HUB, () => new WatchHub(runtime));
}

/**
 * Multiplexes every watch of one Concord over a single bidirectional etcd Watch stream.
 * Subscribers of the same range share one server-side watch (refcounted). The hub resumes
 * every watch after the stream breaks or stalls from the revision after the last one it
 * delivered, re-reads ranges whose history was compacted, and closes the stream when the
 * last subscriber leaves.
 *
 * Delivery is synchronous: every subscriber gets a batch as soon as its response is decoded,
 * and the hub never waits for anyone. A subscriber that needs time per batch buffers on its
 * own side (an RxJS operator such as `concatMap`), or uses `watchIterator`, whose buffer is
 * bounded.
 */
export class WatchHub implements Closable {
  private stream: WatchStream | undefined;
  private opening = false;
  /** Bumped whenever the stream is replaced, so callbacks of an old stream are ignored. */
  private generation = 0;
  private readonly upstreams = new Set<Upstream>();
  private readonly shared = new Map<string, Upstream>();
  private readonly byId = new Map<string, Upstream>();
  /** Ids of create requests not answered yet, oldest first: etcd answers creates in order. */
  private readonly awaitingCreated: string[] = [];
  /** View caches by range and projection id (see `cache`): each one holds its own kind of entries. */
  private readonly views = new Map<string, ViewCache<object>>();
  private nextWatchId = 1n;
  private backoff: IBackoff<unknown>;
  /** Whether `backoff` has advanced since etcd last answered. */
  private backingOff = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private lastHeard = 0;
  private progressAsked = false;
  private closed = false;

  constructor(private readonly runtime: Runtime) {
    this.backoff = runtime.reconnectBackoff.next(undefined);
  }

  /** See `Concord.watch`. Validates eagerly; the returned Observable is cold. */
  watch(range: WatchRange, options?: WatchOptions): Observable<WatchBatch> {
    const resolved = this.resolve(range);
    const { fromRevision, prevKv } = checkWatchOptions(options);
    return new Observable<WatchBatch>((subscriber) =>
      this.attach(
        resolved,
        { fromRevision, prevKv },
        {
          from: fromRevision ?? 0n,
          next: (batch) => subscriber.next(batch),
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        },
      ),
    );
  }

  /** See `Concord.view`. One cache (and one server-side watch) per prefix, shared by all subscribers. */
  view(range: { prefix: string }): Observable<View> {
    this.runtime.assertOpen('view');
    if (range === null || typeof range !== 'object')
      throw new InvalidArgumentError('range', 'must be { prefix }', range);
    checkOptions('range', range, ['prefix']);
    if (typeof range.prefix !== 'string')
      throw new InvalidArgumentError('range.prefix', 'must be a string', range.prefix);
    return this.projectedView<KeyValue>(range.prefix, RAW);
  }

  /**
   * `view` with each entry as `projection` reads it (internal: e.g. discovery keeps parsed
   * instances rather than raw values). One cache, one read and one server-side watch per prefix
   * and projection, shared by every subscriber, each counted in `stats`.
   */
  projectedView<T extends object>(prefix: string, projection: Projection<T>): Observable<CachedView<T>> {
    const resolved = resolveRange(this.runtime.keys, { prefix });
    return new Observable<CachedView<T>>((subscriber) => {
      if (this.closed) {
        subscriber.complete();
        return;
      }
      return this.cache(resolved, projection).subscribe(subscriber);
    });
  }

  private cache<T extends object>(range: EtcdRange, projection: Projection<T>): ViewCache<T> {
    const id = `${rangeId(range)}:${projection.id}`;
    // The id names the projection, so the cache found holds entries of type T.
    const found = this.views.get(id) as ViewCache<T> | undefined;
    if (found) return found;
    const created: ViewCache<T> = new ViewCache(this.runtime, this, range, projection, () => {
      if (this.views.get(id) === created) this.views.delete(id);
    });
    this.views.set(id, created);
    return created;
  }

  /** See `Concord.watchIterator`. */
  iterate(
    range: WatchRange,
    options?: WatchOptions & WatchIteratorOptions,
  ): AsyncIterableIterator<WatchBatch> {
    const resolved = this.resolve(range);
    checkOptions('options', options, ['fromRevision', 'prevKv', 'maxBuffered', 'overflow']);
    const { fromRevision, prevKv } = checkWatchOptions({
      ...(options?.fromRevision === undefined ? {} : { fromRevision: options.fromRevision }),
      ...(options?.prevKv === undefined ? {} : { prevKv: options.prevKv }),
    });
    checkInteger('options.maxBuffered', options?.maxBuffered, 1);
    const overflow = options?.overflow ?? 'resync';
    if (overflow !== 'resync' && overflow !== 'error') {
      throw new InvalidArgumentError('options.overflow', "must be 'resync' or 'error'", overflow);
    }
    return new BoundedIterator(
      (sink) => this.attach(resolved, { fromRevision, prevKv }, sink),
      (signal) => readRangeRetrying(this.runtime, resolved, signal),
      fromRevision ?? 0n,
      options?.maxBuffered ?? this.runtime.hubSettings.maxBuffered,
      overflow,
    );
  }

  /** See `Concord.watchStats`. */
  stats(): WatchStats {
    let subscribers = 0;
    for (const up of this.upstreams) for (const sink of up.sinks) if (!sink.internal) subscribers++;
    for (const view of this.views.values()) subscribers += view.subscribers;
    return { streams: this.stream ? 1 : 0, upstreamWatches: this.byId.size, subscribers };
  }

  /**
   * Adds a sink to the upstream for `range` and returns the function that removes it. The
   * shared upstream of the range is used unless the sink needs history it already passed.
   * `share` marks a `fromRevision` that is (nearly) current, so the new upstream may serve
   * later "from now" subscribers too.
   */
  attach(
    range: EtcdRange,
    options: { fromRevision: bigint | undefined; prevKv: boolean; share?: boolean },
    sink: Sink,
  ): () => void {
    if (this.closed) {
      sink.complete();
      return () => undefined;
    }
    const { fromRevision, prevKv } = options;
    const shareKey = `${rangeId(range)}:${prevKv ? 'p' : ''}`;
    const existing = this.shared.get(shareKey);
    let up: Upstream;
    if (
      existing &&
      (fromRevision === undefined || (existing.positioned && fromRevision > existing.lastRevision))
    ) {
      up = existing;
    } else if (fromRevision === undefined) {
      up = this.register(new Upstream(range, prevKv, shareKey, undefined));
    } else {
      up = this.register(
        new Upstream(range, prevKv, options.share && !existing ? shareKey : undefined, fromRevision),
      );
    }
    up.add(sink);
    return () => {
      if (up.remove(sink) === 0) this.unregister(up);
    };
  }

  /** Completes every subscriber, cancels every watch and closes the stream. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const up of this.upstreams) up.abortResync();
    const sinks = [...this.upstreams].flatMap((up) => [...up.sinks]);
    this.upstreams.clear();
    this.shared.clear();
    for (const view of [...this.views.values()]) view.complete();
    for (const sink of sinks) sink.complete();
    this.dropStream('end');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }

  private resolve(range: WatchRange): EtcdRange {
    this.runtime.assertOpen('watch');
    if (range === null || typeof range !== 'object' || Array.isArray(range))
      throw new InvalidArgumentError('range', 'must be { key } or { prefix }', range);
    if ('prefix' in range) {
      checkOptions('range', range, ['prefix']);
      if (typeof range.prefix !== 'string')
        throw new InvalidArgumentError('range.prefix', 'must be a string', range.prefix);
    } else {
      checkOptions('range', range, ['key']);
      if (typeof range.key !== 'string' || range.key === '') {
        throw new InvalidArgumentError('range.key', 'must be a non-empty string', range.key);
      }
    }
    return resolveRange(this.runtime.keys, range);
  }

  private register(up: Upstream): Upstream {
    this.upstreams.add(up);
    if (up.shareKey) this.shared.set(up.shareKey, up);
    if (this.stream) this.create(up);
    else this.openStream();
    return up;
  }

  private unregister(up: Upstream): void {
    if (!this.upstreams.delete(up)) return;
    if (up.shareKey && this.shared.get(up.shareKey) === up) this.shared.delete(up.shareKey);
    up.abortResync();
    const id = up.watchId;
    up.watchId = undefined;
    if (id !== undefined) this.byId.delete(id);
    if (this.upstreams.size === 0) {
      // Ending the stream removes every server-side watch at once and lets the process exit.
      this.dropStream('end');
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    } else if (id !== undefined && this.stream) {
      this.stream.write({ cancel_request: { watch_id: id } });
    }
  }

  private create(up: Upstream): void {
    if (!this.stream || up.resyncing) return;
    const id = (this.nextWatchId++).toString();
    up.watchId = id;
    this.byId.set(id, up);
    this.awaitingCreated.push(id);
    this.stream.write({ create_request: up.createRequest(id) });
  }

  private openStream(): void {
    if (this.stream || this.opening || this.reconnectTimer || this.closed || this.upstreams.size === 0)
      return;
    this.opening = true;
    const generation = ++this.generation;
    openWatchStream(this.runtime.etcd).then(
      (stream) => {
        this.opening = false;
        if (generation !== this.generation || this.closed || this.upstreams.size === 0) {
          endStream(stream);
          this.openStream();
          return;
        }
        this.stream = stream;
        this.lastHeard = Date.now();
        this.progressAsked = false;
        stream.on('data', (res: IWatchResponse) => {
          if (generation === this.generation) this.onResponse(res);
        });
        stream.on('error', (err: Error) => this.onStreamFailure(generation, err));
        stream.on('end', () => this.onStreamFailure(generation, new Error('etcd ended the watch stream')));
        for (const up of this.upstreams) this.create(up);
        this.startStallTimer(generation);
      },
      (err: unknown) => {
        this.opening = false;
        // The hub may have been emptied and refilled while this attempt was pending; the
        // newer subscribers still need a stream.
        if (generation !== this.generation) this.openStream();
        else this.onStreamFailure(generation, err);
      },
    );
  }

  private onStreamFailure(generation: number, err: unknown, mode: 'end' | 'reset' = 'end'): void {
    if (generation !== this.generation || this.closed) return;
    this.dropStream(mode);
    const error = toConcordError(err, 'watch stream');
    if (
      error instanceof ConcordError &&
      (error.code === 'PERMISSION_DENIED' || error.code === 'AUTHENTICATION_FAILED')
    ) {
      this.runtime.log.error('watch stream refused', { error: error.message });
      this.failAll(error);
      return;
    }
    this.runtime.monitor.report(false);
    const delay = this.backoff.duration;
    this.backoff = this.backoff.next(undefined);
    this.backingOff = true;
    this.runtime.log.warn('watch stream interrupted; resuming', {
      error: errorText(err),
      retryInMs: delay,
    });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openStream();
    }, delay);
  }

  /**
   * Forgets the current stream. `'end'` half-closes it first, so etcd3 treats the cancellation
   * as ours and leaves the host's connections alone. `'reset'` cancels it while still writable,
   * which etcd3 reports as a host failure: it then closes the host's gRPC clients, so the next
   * stream gets a fresh connection instead of the silent one.
   */
  private dropStream(mode: 'end' | 'reset'): void {
    this.generation++;
    clearInterval(this.stallTimer);
    this.stallTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    this.byId.clear();
    this.awaitingCreated.length = 0;
    for (const up of this.upstreams) up.watchId = undefined;
    if (!stream) return;
    if (mode === 'end') {
      endStream(stream);
    } else {
      stream.on('error', () => undefined);
      stream.cancel();
    }
  }

  private failAll(error: unknown): void {
    const ups = [...this.upstreams];
    this.upstreams.clear();
    this.shared.clear();
    for (const up of ups) {
      up.abortResync();
      for (const sink of [...up.sinks]) sink.error(error);
    }
  }

  private startStallTimer(generation: number): void {
    const { stallTimeoutMs } = this.runtime.hubSettings;
    this.stallTimer = setInterval(
      () => {
        if (generation !== this.generation || !this.stream) return;
        const silent = Date.now() - this.lastHeard;
        if (silent >= stallTimeoutMs) {
          this.onStreamFailure(generation, new Error(`watch stream silent for ${silent} ms`), 'reset');
        } else if (silent >= stallTimeoutMs / 2 && !this.progressAsked) {
          // Any answer proves the stream is alive; etcd answers a progress request even when idle.
          this.progressAsked = true;
          this.stream.write({ progress_request: {} });
        }
      },
      Math.max(25, Math.floor(stallTimeoutMs / 4)),
    );
  }

  private onResponse(res: IWatchResponse): void {
    this.lastHeard = Date.now();
    this.progressAsked = false;
    if (this.backingOff) {
      this.backingOff = false;
      this.backoff = this.runtime.reconnectBackoff.next(undefined);
    }
    this.runtime.monitor.report(true);
    let id = String(res.watch_id);
    if (res.created) {
      // etcd 3.4 answers a create it refuses (permission denied) with watch id -1, created and
      // canceled: that answer belongs to the oldest create still waiting for its answer.
      if (id === '-1') id = this.awaitingCreated[0] ?? id;
      const at = this.awaitingCreated.indexOf(id);
      if (at >= 0) this.awaitingCreated.splice(at, 1);
    }
    const up = this.byId.get(id);
    // Answers to progress requests carry no watch id (-1): they are liveness only, because etcd
    // 3.4 sends them ahead of events still queued for a watch.
    if (!up) return;
    // A refused create never started: announcing a start revision would look like a live watch.
    if (res.created && !res.canceled) up.onCreated(BigInt(res.header.revision));
    if (res.canceled) {
      this.byId.delete(id);
      up.watchId = undefined;
      // etcd keeps a watch it cancelled for compaction registered (and counted) until the client
      // cancels it too; for other reasons the cancel is a harmless no-op.
      this.stream?.write({ cancel_request: { watch_id: id } });
      this.onCancelled(up, res);
      return;
    }
    if (res.events.length > 0 || res.fragment) up.onEvents(this.runtime.keys, res.events, res.fragment);
    else if (!res.created) up.onProgress(BigInt(res.header.revision));
  }

  private onCancelled(up: Upstream, res: IWatchResponse): void {
    const compactRevision = BigInt(res.compact_revision || '0');
    if (compactRevision > 0n) {
      void this.resync(up, compactRevision);
      return;
    }
    const reason = res.cancel_reason || 'cancelled by etcd';
    if (/permission denied|user name is empty|invalid auth token/i.test(reason)) {
      this.fail(up, new PermissionDeniedError(`watch: etcd denied permission (${reason})`));
      return;
    }
    // Anything else (e.g. the member lost its leader) is transient: create it again shortly.
    this.runtime.log.warn('etcd cancelled a watch; re-creating it', { reason });
    this.later(() => {
      if (this.upstreams.has(up) && up.watchId === undefined) this.create(up);
    });
  }

  /** Ends one upstream with an error the hub cannot repair. */
  private fail(up: Upstream, error: unknown): void {
    this.unregister(up);
    for (const sink of [...up.sinks]) sink.error(error);
  }

  /** Re-reads a range whose history etcd compacted, delivers it as `resync` and resumes after it. */
  private async resync(up: Upstream, compactRevision: bigint): Promise<void> {
    const signal = up.startResync();
    try {
      const snapshot = await readRangeRetrying(this.runtime, up.range, signal);
      this.runtime.log.info('watch resynced after compaction', {
        compactRevision: compactRevision.toString(),
        revision: snapshot.revision.toString(),
        keys: snapshot.entries.size,
        pages: snapshot.pages,
      });
      up.onResync(snapshot.revision, snapshot.entries, compactRevision);
      if (this.upstreams.has(up) && up.watchId === undefined) {
        if (this.stream) this.create(up);
        else this.openStream();
      }
    } catch (err) {
      // Aborted: the upstream was dropped or the hub closed, nobody is waiting.
      if (signal.aborted) return;
      this.fail(up, toConcordError(err, 'watch resync'));
    }
  }

  private later(fn: () => void, delayMs = this.backoff.duration): void {
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      fn();
    }, delayMs);
    this.retryTimers.add(timer);
  }
}

function checkWatchOptions(options: WatchOptions | undefined): {
  fromRevision: bigint | undefined;
  prevKv: boolean;
} {
  checkOptions('options', options, ['fromRevision', 'prevKv']);
  checkRevision('options.fromRevision', options?.fromRevision);
  if (options?.fromRevision === 0n)
    throw new InvalidArgumentError('options.fromRevision', 'must be >= 1n', 0n);
  if (options?.prevKv !== undefined && typeof options.prevKv !== 'boolean') {
    throw new InvalidArgumentError('options.prevKv', 'must be a boolean', options.prevKv);
  }
  return { fromRevision: options?.fromRevision, prevKv: options?.prevKv ?? false };
}

/**
 * Ends a stream we no longer want. Half-closing first makes etcd3 treat the cancellation as
 * ours: it only reports errors of still-writable streams to its host failure handling, which
 * would otherwise reset every gRPC client of the host.
 */
function endStream(stream: WatchStream): void {
  stream.on('error', () => undefined);
  stream.end();
  stream.cancel();
}
