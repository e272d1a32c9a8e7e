import { SlowConsumerError } from '../errors.js';
import type { RangeSnapshot } from './range.js';
import type { WatchBatch } from './types.js';
import type { Sink } from './upstream.js';

/**
 * An async iterator over one watch with a bounded buffer. The hub never waits for the
 * consumer; when more than `maxBuffered` batches are waiting, the overflow policy applies:
 * `'resync'` drops them and hands the consumer a fresh `resync` (compactRevision 0n) followed
 * by the batches after it, `'error'` ends the iteration with {@link SlowConsumerError}.
 */
export class BoundedIterator implements AsyncIterableIterator<WatchBatch> {
  private buffer: WatchBatch[] = [];
  private waiter:
    | { resolve: (r: IteratorResult<WatchBatch>) => void; reject: (e: unknown) => void }
    | undefined;
  private failure: unknown;
  private done = false;
  private resyncNeeded = false;
  /** Batches at or below this revision are covered by a resync already delivered. */
  private coveredThrough = 0n;
  private readonly detach: () => void;

  constructor(
    attach: (sink: Sink) => () => void,
    private readonly read: () => Promise<RangeSnapshot>,
    from: bigint,
    private readonly maxBuffered: number,
    private readonly overflow: 'resync' | 'error',
  ) {
    this.detach = attach({
      from,
      next: (batch) => this.push(batch),
      error: (err) => this.end(err),
      complete: () => this.end(undefined),
    });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<WatchBatch> {
    return this;
  }

  async next(): Promise<IteratorResult<WatchBatch>> {
    if (this.resyncNeeded && !this.done) {
      this.resyncNeeded = false;
      const snapshot = await this.read();
      this.coveredThrough = snapshot.revision;
      this.buffer = this.buffer.filter((b) => b.revision > snapshot.revision);
      return {
        done: false,
        value: {
          type: 'resync',
          revision: snapshot.revision,
          snapshot: snapshot.entries,
          compactRevision: 0n,
        },
      };
    }
    const batch = this.buffer.shift();
    if (batch) return { done: false, value: batch };
    if (this.failure !== undefined) throw this.failure;
    if (this.done) return { done: true, value: undefined };
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  async return(): Promise<IteratorResult<WatchBatch>> {
    this.end(undefined);
    this.buffer = [];
    return { done: true, value: undefined };
  }

  /** Batches waiting for the consumer right now. */
  get buffered(): number {
    return this.buffer.length;
  }

  private push(batch: WatchBatch): void {
    if (this.done || (batch.revision <= this.coveredThrough && batch.type !== 'resync')) return;
    const waiter = this.waiter;
    if (waiter && this.buffer.length === 0 && !this.resyncNeeded) {
      this.waiter = undefined;
      waiter.resolve({ done: false, value: batch });
      return;
    }
    if (this.buffer.length >= this.maxBuffered) {
      if (this.overflow === 'error') {
        this.end(new SlowConsumerError(`watch consumer fell more than ${this.maxBuffered} batches behind`));
        return;
      }
      this.buffer = [];
      this.resyncNeeded = true;
    }
    this.buffer.push(batch);
  }

  private end(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    this.detach?.();
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) {
      if (err !== undefined) waiter.reject(err);
      else waiter.resolve({ done: true, value: undefined });
    }
  }
}
