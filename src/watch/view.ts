import type { Subscriber, TeardownLogic } from 'rxjs';
import { isTransient, toConcordError } from '../etcd-errors.js';
import type { Runtime } from '../runtime.js';
import type { WatchHub } from './hub.js';
import { type EtcdRange, readRange } from './range.js';
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
  private loading = false;
  /** Bumped on stop, so a load that finishes after everyone left does nothing. */
  private generation = 0;

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
    this.loading = true;
    const generation = this.generation;
    let backoff = this.runtime.reconnectBackoff.next(undefined);
    for (;;) {
      try {
        const snapshot = await readRange(
          this.runtime.etcd,
          this.runtime.keys,
          this.range,
          this.runtime.hubSettings.pageSize,
        );
        if (generation !== this.generation) return;
        this.loading = false;
        this.entries = snapshot.entries;
        this.revision = snapshot.revision;
        this.runtime.monitor.report(true);
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
        return;
      } catch (err) {
        if (generation !== this.generation) return;
        if (!isTransient(err)) {
          // Typed, so a refused TLS handshake or a denied prefix is recognisable (not a raw gRPC error).
          this.fail(toConcordError(err, 'view'));
          return;
        }
        this.runtime.monitor.report(false);
        await new Promise((resolve) => setTimeout(resolve, backoff.duration));
        backoff = backoff.next(undefined);
        if (generation !== this.generation) return;
      }
    }
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
    this.generation++;
    this.loading = false;
    this.current = undefined;
    this.entries = new Map();
    const detach = this.detach;
    this.detach = undefined;
    detach?.();
    this.onIdle();
  }
}
