import { ClosedError, SlowConsumerError } from '../errors.js';
import type { RangeSnapshot } from './range.js';
import type { WatchBatch } from './types.js';
import type { Sink } from './upstream.js';

/**
 * An async iterator over one watch with a bounded buffer. The hub never waits for the
 * consumer; when a batch arrives while `maxBuffered` batches are already waiting, the overflow
 * policy applies:
 * - `'resync'`: the waiting batches are dropped and the consumer's next batch is a `resync`
 *   (compactRevision 0n) read at that moment, followed by every batch after the read's
 *   revision: no gap, no duplicate. The re-read is retried while etcd is unreachable.
 * - `'error'`: the watch is released at once; the consumer still gets the batches that were
 *   waiting, then `next()` rejects with {@link SlowConsumerError}.
 * `return()` (e.g. `break` in `for await`) releases the watch.
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
  /** The newest revision dropped on overflow since the last re-read started. */
  private droppedThrough = 0n;
  /** Aborts a re-read in progress when the iterator ends. */
  private readonly abort = new AbortController();
  private readonly detach: () => void;

  constructor(
    attach: (sink: Sink) => () => void,
    private readonly read: (signal: AbortSignal) => Promise<RangeSnapshot>,
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
      this.droppedThrough = 0n;
      let snapshot: RangeSnapshot;
      try {
        snapshot = await this.read(this.abort.signal);
      } catch (err) {
        // Ended meanwhile: report the end as any later call would.
        if (this.done) return this.next();
        // What is buffered comes after a gap the failed read should have covered.
        this.buffer = [];
        this.end(err);
        throw err;
      }
      this.coveredThrough = snapshot.revision;
      this.buffer = this.buffer.filter((b) => b.revision > snapshot.revision);
      // Batches that overflowed while reading are covered by this read unless newer than it.
      if (this.droppedThrough <= snapshot.revision) this.resyncNeeded = false;
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
    this.failure = undefined;
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
      // Everything buffered so far, and this batch, is covered by the re-read next() makes; the
      // batch is kept only in case it is newer than that read.
      for (const dropped of this.buffer) {
        if (dropped.revision > this.droppedThrough) this.droppedThrough = dropped.revision;
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
    this.abort.abort(new ClosedError('the watch iterator ended'));
    this.detach?.();
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) {
      if (err !== undefined) waiter.reject(err);
      else waiter.resolve({ done: true, value: undefined });
    }
  }
}
