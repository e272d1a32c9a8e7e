import type { Subscriber, TeardownLogic } from 'rxjs';
import { ClosedError } from '../errors.js';
import { toConcordError } from '../etcd-errors.js';
import type { Runtime } from '../runtime.js';
import type { WatchHub } from './hub.js';
import { type EtcdRange, type RangeSnapshot, readRangeRetrying } from './range.js';
import type { KeyValue, View, WatchBatch } from './types.js';

/**
 * The shared, materialized state of one prefix. The first subscriber triggers one paginated
 * read and one watch from the revision after it; later subscribers get the cached View at once.
 * Every subscriber sees the same View objects in the same order.
 */
export class ViewCache {
  private readonly subs = new Set<Subscriber<View>>();
  private entries = new Map<string, KeyValue>();
  /** The current entries were handed out in a View and must be copied before changing. */
  private handedOut = false;
  private revision = 0n;
  private current: View | undefined;
  private detach: (() => void) | undefined;
  /** Set while the first read is under way; aborting it stops the read (and its retries). */
  private loading: AbortController | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly hub: WatchHub,
    private readonly range: EtcdRange,
    private readonly onIdle: () => void,
  ) {}

  /** How many subscribers this view has. */
  get subscribers(): number {
    return this.subs.size;
  }

  subscribe(subscriber: Subscriber<View>): TeardownLogic {
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
    let snapshot: RangeSnapshot;
    try {
      snapshot = await readRangeRetrying(this.runtime, this.range, signal);
    } catch (err) {
      // Aborted: every subscriber left (or the hub closed) while reading. Otherwise typed, so a
      // refused TLS handshake or a denied prefix is recognisable (not a raw gRPC error).
      if (!signal.aborted) this.fail(toConcordError(err, 'view'));
      return;
    }
    this.loading = undefined;
    this.entries = snapshot.entries;
    this.revision = snapshot.revision;
    this.detach = this.hub.attach(
      this.range,
      { fromRevision: snapshot.revision + 1n, prevKv: false, share: true },
      {
        from: snapshot.revision + 1n,
        internal: true,
        next: (batch) => this.apply(batch),
        error: (err) => this.fail(err),
        complete: () => this.complete(),
      },
    );
    this.emit();
  }

  private apply(batch: WatchBatch): void {
    if (batch.type === 'progress') {
      this.revision = batch.revision;
      this.current = { revision: this.revision, entries: this.current?.entries ?? this.entries };
      return;
    }
    if (batch.type === 'resync') {
      this.entries = new Map(batch.snapshot);
      this.handedOut = false;
    } else {
      if (this.handedOut) {
        this.entries = new Map(this.entries);
        this.handedOut = false;
      }
      for (const event of batch.events) {
        if (event.type === 'put') this.entries.set(event.kv.key, event.kv);
        else this.entries.delete(event.kv.key);
      }
    }
    this.revision = batch.revision;
    this.emit();
  }

  private emit(): void {
    this.handedOut = true;
    const view: View = { revision: this.revision, entries: this.entries };
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
    this.entries = new Map();
    const detach = this.detach;
    this.detach = undefined;
    detach?.();
    this.onIdle();
  }
}
