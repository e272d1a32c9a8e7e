import type { IWatchRequest } from 'etcd3';
import { Observable } from 'rxjs';
import type { Closable, Runtime } from '../core/runtime.js';
import { AuthenticationFailedError, PermissionDeniedError } from '../errors.js';
import type { WatchResponse } from '../etcd/proto/watch.js';
import { ReconnectingStream } from '../etcd/reconnecting-stream.js';
import { toConcordError } from '../etcd/translate.js';
import { forgetAuthToken, openWatchStream, type WatchStream } from '../etcd/watch-stream.js';
import { emitOpened, emitResync } from './hub-events.js';
import { BoundedIterator } from './iterator.js';
import { StreamProgress } from './progress.js';
import { type EtcdRange, rangeId, readListRetrying, readRangeRetrying, resolveRange } from './range.js';
import { StallDetector } from './stall.js';
import { StreamWatches } from './stream-watches.js';
import type {
  InternalWatch,
  View,
  WatchBatch,
  WatchIteratorOptions,
  WatchOptions,
  WatchRange,
  WatchStats,
} from './types.js';
import { type Sink, Upstream } from './upstream.js';
import { RAW_VIEW, ViewCache, type ViewFold } from './view-cache.js';

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
  private readonly stream: ReconnectingStream<IWatchRequest, WatchResponse, WatchStream>;
  private readonly stall: StallDetector;
  private readonly progress: StreamProgress;
  private readonly upstreams = new Set<Upstream>();
  private readonly shared = new Map<string, Upstream>();
  private readonly registered = new StreamWatches();
  /** View caches by range and fold id (see `cache`): each one holds its own kind of state. */
  private readonly views = new Map<string, ViewCache<unknown, { revision: bigint }>>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly runtime: Runtime) {
    this.stream = new ReconnectingStream(runtime, 'watch stream', () => openWatchStream(runtime.etcd), {
      wanted: () => !this.closed && this.upstreams.size > 0,
      opened: (stream, downMs) => {
        this.progress.start(stream.server);
        for (const up of this.upstreams) this.create(up);
        this.stall.start();
        emitOpened(runtime.events, this.upstreams.size, downMs);
      },
      data: (res) => this.onResponse(res),
      dropped: () => this.onDropped(),
      failed: (err) => this.onFailed(err),
    });
    this.stall = new StallDetector(this.stream, runtime.hubSettings.stallTimeoutMs, (silentMs) =>
      runtime.events.emit({ type: 'watch.stalled', silentMs }),
    );
    const { progressIntervalMs } = runtime.hubSettings;
    this.progress = new StreamProgress(
      (request) => this.stream.write(request),
      progressIntervalMs,
      runtime.log,
    );
  }

  /**
   * See `Concord.watch`, whose arguments are checked before they get here (`checkWatchArguments`).
   * The returned Observable is cold. `internal`: see {@link InternalWatch} (a deletes-only watch
   * has its own upstream; `linger`, see `ReconnectingStream.stopWhenIdle`).
   */
  watch(range: WatchRange, options?: WatchOptions, internal: InternalWatch = {}): Observable<WatchBatch> {
    this.runtime.assertOpen('watch');
    const resolved = resolveRange(this.runtime.keys, range);
    const fromRevision = options?.fromRevision;
    const prevKv = options?.prevKv ?? false;
    return new Observable<WatchBatch>((subscriber) =>
      this.attach(
        resolved,
        { fromRevision, prevKv, ...internal },
        {
          from: fromRevision ?? 0n,
          next: (batch) => subscriber.next(batch),
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        },
      ),
    );
  }

  /**
   * See `Concord.view`, whose arguments are checked before they get here (`checkViewArguments`).
   * One cache and one server-side watch per prefix, shared by all subscribers.
   */
  view(range: { prefix: string }): Observable<View> {
    this.runtime.assertOpen('view');
    return this.folded(range.prefix, RAW_VIEW);
  }

  /**
   * The state `fold` keeps of a prefix (internal: `view` is a map of KeyValues; discovery keeps a
   * sorted list of parsed instances). One cache, one read and one server-side watch per prefix
   * and fold, shared by every subscriber, each counted in `stats`.
   */
  folded<T, S extends { revision: bigint }>(prefix: string, fold: ViewFold<T, S>): Observable<S> {
    const resolved = resolveRange(this.runtime.keys, { prefix });
    return new Observable<S>((subscriber) => {
      if (this.closed) {
        subscriber.complete();
        return;
      }
      return this.cache(resolved, fold).subscribe(subscriber);
    });
  }

  /** See `Concord.watchIterator` (arguments checked by `checkIteratorArguments`). */
  iterate(
    range: WatchRange,
    options?: WatchOptions & WatchIteratorOptions,
  ): AsyncIterableIterator<WatchBatch> {
    this.runtime.assertOpen('watch');
    const resolved = resolveRange(this.runtime.keys, range);
    const fromRevision = options?.fromRevision;
    return new BoundedIterator(
      (sink) => this.attach(resolved, { fromRevision, prevKv: options?.prevKv ?? false }, sink),
      (signal) => readRangeRetrying(this.runtime, resolved, signal),
      fromRevision ?? 0n,
      options?.maxBuffered ?? this.runtime.hubSettings.maxBuffered,
      options?.overflow ?? 'resync',
    );
  }

  /** See `Concord.watchStats`. */
  stats(): WatchStats {
    let subscribers = 0;
    for (const up of this.upstreams) for (const sink of up.sinks) if (!sink.internal) subscribers++;
    for (const view of this.views.values()) subscribers += view.subscribers;
    return { streams: this.stream.isOpen ? 1 : 0, upstreamWatches: this.registered.size, subscribers };
  }

  /**
   * Adds a sink to the upstream for `range` and returns the function that removes it. The
   * shared upstream of the range is used unless the sink needs history it already passed.
   * `share` marks a `fromRevision` that is (nearly) current, so the new upstream may serve
   * later "from now" subscribers too; `linger`, see {@link watch}.
   */
  attach(
    range: EtcdRange,
    options: { fromRevision: bigint | undefined; prevKv: boolean; share?: boolean } & InternalWatch,
    sink: Sink,
  ): () => void {
    if (this.closed) {
      sink.complete();
      return () => undefined;
    }
    const { fromRevision, prevKv, deletesOnly = false } = options;
    const shareKey = `${rangeId(range)}:${prevKv ? 'p' : ''}${deletesOnly ? 'd' : ''}`;
    const existing = this.shared.get(shareKey);
    let up: Upstream;
    if (
      existing &&
      (fromRevision === undefined || (existing.positioned && fromRevision > existing.lastRevision))
    ) {
      up = existing;
    } else if (fromRevision === undefined) {
      up = this.register(new Upstream(range, prevKv, shareKey, undefined, deletesOnly));
    } else {
      const share = options.share && !existing ? shareKey : undefined;
      up = this.register(new Upstream(range, prevKv, share, fromRevision, deletesOnly));
    }
    up.add(sink);
    return () => {
      if (up.remove(sink) === 0) this.unregister(up, options.linger);
    };
  }

  /** Completes every subscriber, cancels every watch and closes the stream. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const sinks = this.takeAll();
    for (const view of [...this.views.values()]) view.complete();
    for (const sink of sinks) sink.complete();
    this.stream.close();
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }

  private cache<T, S extends { revision: bigint }>(range: EtcdRange, fold: ViewFold<T, S>): ViewCache<T, S> {
    const id = `${rangeId(range)}:${fold.id}`;
    // The id names the fold, so the cache found keeps states of type S.
    const found = this.views.get(id) as ViewCache<T, S> | undefined;
    if (found) return found;
    const created: ViewCache<T, S> = new ViewCache(
      fold,
      // Converted page by page: the KeyValues of a large prefix never all exist at once.
      (signal) => readListRetrying(this.runtime, range, signal, (key, kv) => fold.read(key, kv)),
      (sink) => this.attach(range, { fromRevision: sink.from, prevKv: false, share: true }, sink),
      () => {
        if (this.views.get(id) === created) this.views.delete(id);
      },
    );
    this.views.set(id, created as ViewCache<unknown, { revision: bigint }>);
    return created;
  }

  private register(up: Upstream): Upstream {
    this.upstreams.add(up);
    if (up.shareKey) this.shared.set(up.shareKey, up);
    this.create(up);
    return up;
  }

  private unregister(up: Upstream, linger = false): void {
    if (!this.upstreams.delete(up)) return;
    if (up.shareKey && this.shared.get(up.shareKey) === up) this.shared.delete(up.shareKey);
    up.abortResync();
    const id = this.registered.remove(up);
    const last = this.upstreams.size === 0;
    if (id !== undefined && (!last || linger)) this.stream.write({ cancel_request: { watch_id: id } });
    // Ending the stream removes every server-side watch at once and lets the process exit.
    if (last && linger) this.stream.stopWhenIdle();
    else if (last) this.stream.stop();
  }

  /** Registers `up` on the stream, or has a stream opened (which registers every upstream). */
  private create(up: Upstream): void {
    if (!this.stream.isOpen) this.stream.connect();
    else if (!up.resyncing) this.stream.write({ create_request: this.registered.add(up) });
  }

  /** The stream was let go: no watch is registered on any stream now. */
  private onDropped(): void {
    this.stall.stop();
    this.progress.stop();
    this.registered.clear();
  }

  /** The stream failed; refusals end every subscriber (retrying cannot help), the rest is resumed. */
  private onFailed(err: unknown): boolean {
    const error = toConcordError(err, 'watch stream');
    const refused = error instanceof PermissionDeniedError || error instanceof AuthenticationFailedError;
    if (!refused) return true;
    this.runtime.log.error('watch stream refused', { error: error.message });
    for (const sink of this.takeAll()) sink.error(error);
    return false;
  }

  /** Takes every upstream off the hub (their re-reads stopped) and returns their sinks. */
  private takeAll(): Sink[] {
    for (const up of this.upstreams) up.abortResync();
    const sinks = [...this.upstreams].flatMap((up) => [...up.sinks]);
    this.upstreams.clear();
    this.shared.clear();
    return sinks;
  }

  private onResponse(res: WatchResponse): void {
    this.stall.heard();
    this.stream.responded();
    this.progress.heard(String(res.header.member_id));
    const up = this.registered.route(res);
    if (!up) {
      this.progress.answered(res, this.registered);
      return;
    }
    // A refused create never started: announcing a start revision would look like a live watch.
    if (res.created && !res.canceled) up.onCreated(BigInt(res.header.revision));
    if (res.canceled) {
      // etcd keeps a watch it cancelled for compaction registered (and counted) until the client
      // cancels it too; for other reasons the cancel is a harmless no-op.
      const id = this.registered.remove(up);
      if (id !== undefined) this.stream.write({ cancel_request: { watch_id: id } });
      this.onCancelled(up, res);
      return;
    }
    if (res.events.length > 0 || res.fragment) up.onEvents(this.runtime.keys, res.events, res.fragment);
    else if (!res.created) up.onProgress(BigInt(res.header.revision));
  }

  private onCancelled(up: Upstream, res: WatchResponse): void {
    const compactRevision = BigInt(res.compact_revision || '0');
    if (compactRevision > 0n) {
      void this.resync(up, compactRevision);
      return;
    }
    const reason = res.cancel_reason || 'cancelled by etcd';
    if (/invalid auth token/i.test(reason)) {
      // The member no longer knows the stream's token (it restarted and lost its tokens): etcd 3.5
      // refuses every create this way instead of failing the stream. Renew it and reopen; wrong
      // credentials then fail the re-authentication with AuthenticationFailedError, so no loop.
      forgetAuthToken(this.runtime.etcd);
      this.stream.fail(new Error('the auth token of the watch stream is no longer valid'), 'end');
      return;
    }
    if (/permission denied|user name is empty/i.test(reason)) {
      this.fail(up, new PermissionDeniedError(`watch: etcd denied permission (${reason})`));
      return;
    }
    // Anything else (e.g. the member lost its leader) is transient: create it again shortly.
    this.runtime.log.warn('etcd cancelled a watch; re-creating it', { reason });
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.upstreams.has(up) && up.watchId === undefined) this.create(up);
    }, this.stream.retryDelayMs);
    this.retryTimers.add(timer);
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
      emitResync(this.runtime, up.range, snapshot, compactRevision);
      up.onResync(snapshot.revision, snapshot.entries, compactRevision);
      if (this.upstreams.has(up) && up.watchId === undefined) this.create(up);
    } catch (err) {
      // Aborted: the upstream was dropped or the hub closed, nobody is waiting.
      if (signal.aborted) return;
      this.fail(up, toConcordError(err, 'watch resync'));
    }
  }
}
