import type { Observable } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { type QueueSpace, queueSpace } from '../queue/keys.js';
import { newestAhead } from '../queue/turn.js';
import type { ScopedWork } from '../queue/work-term.js';
import type { LockHandle } from './handle.js';
import { checkPrimitive, LockQueue } from './lock-queue.js';
import type { LockOptions, LockPrimitiveOptions, WhileHeldOptions } from './types.js';

/** Set by RWLock's static block: the one way to construct an RWLock. */
let construct: (runtime: Runtime, name: string, options: LockPrimitiveOptions | undefined) => RWLock;

/**
 * A distributed read-write lock named `name`: any number of readers share it, a writer holds
 * it alone, and everyone is served in arrival order (create revision), so a waiting writer is
 * never starved by readers that came after it.
 *
 * Key layout: readers put `<name>/read/<lease id hex>-<n>`, writers `<name>/write/<lease id
 * hex>-<n>`, each unique to one acquisition and carried by its session's lease. A reader holds
 * once no writer key older than its own exists (it waits on the newest such writer only); a
 * writer holds once no key at all under `<name>/` is older than its own (it waits on the
 * newest older key of either kind, then looks again). A writer's `fencingToken` exceeds the
 * token of every earlier reader and writer. The keys under `<name>/` are the queues: `txn()`
 * refuses ops there, and keys there that are not queue entries are ignored (see `Mutex`).
 */
export class RWLock {
  readonly #readers: LockQueue;
  readonly #writers: LockQueue;
  /** Both queues: every key under `<name>/`. */
  readonly #all: QueueSpace;
  readonly #writerSpace: QueueSpace;

  static {
    construct = (runtime, name, options) => new RWLock(runtime, name, options);
  }

  private constructor(runtime: Runtime, name: string, options?: LockPrimitiveOptions) {
    const opts = checkPrimitive(runtime, name, options);
    const all = queueSpace(`${name}/`, [`${name}/read/`, `${name}/write/`]);
    const writers = queueSpace(`${name}/write/`);
    this.#all = all;
    this.#writerSpace = writers;
    // A reader yields to older writers only; a writer to every older key.
    const [read, write] = [`rwlock "${name}" (read)`, `rwlock "${name}" (write)`];
    const readPlace = {
      what: read,
      subject: { primitive: 'rwlock', name, mode: 'read' } as const,
      prefix: `${name}/read/`,
      space: all,
      turnOf: newestAhead(writers),
    };
    this.#readers = new LockQueue(runtime, opts, readPlace);
    this.#writers = new LockQueue(runtime, opts, {
      what: write,
      subject: { primitive: 'rwlock', name, mode: 'write' },
      prefix: writers.prefix,
      space: all,
      turnOf: newestAhead(all),
    });
  }

  /** Waits for a shared (read) hold: behind every writer that asked earlier. Same cancellation and loss rules as `mutex.lock()`. */
  read(options?: LockOptions): Promise<LockHandle> {
    return this.#readers.wait(options);
  }

  /** Waits for the exclusive (write) hold: behind every reader and writer that asked earlier. */
  write(options?: LockOptions): Promise<LockHandle> {
    return this.#writers.wait(options);
  }

  /** Takes a read hold only if no writer holds or waits, without waiting; otherwise writes nothing and resolves to undefined. */
  tryRead(): Promise<LockHandle | undefined> {
    return this.#readers.tryEnter(this.#writerSpace);
  }

  /** Takes the write hold only if nobody holds or waits, without waiting; otherwise writes nothing and resolves to undefined. */
  tryWrite(): Promise<LockHandle | undefined> {
    return this.#writers.tryEnter(this.#all);
  }

  /**
   * {@link read} as an Observable: acquire on subscribe, error LockLostError on loss, release on
   * unsubscribe.
   * Holds only while subscribed: `firstValueFrom`, `take(1)` and `first()` unsubscribe after the
   * first value, which releases at once; keep the subscription for as long as you hold.
   */
  read$(): Observable<LockHandle> {
    return this.#readers.hold$();
  }

  /**
   * {@link write} as an Observable: acquire on subscribe, error LockLostError on loss, release on
   * unsubscribe.
   * Holds only while subscribed: `firstValueFrom`, `take(1)` and `first()` unsubscribe after the
   * first value, which releases at once; keep the subscription for as long as you hold.
   */
  write$(): Observable<LockHandle> {
    return this.#writers.hold$();
  }

  /** Runs `work(lock, signal)` while holding a read (shared) hold: the rules of `mutex.whileHeld()`. */
  whileReading<T>(work: ScopedWork<LockHandle, T>, options?: WhileHeldOptions): Observable<T> {
    return this.#readers.whileHeld(work, options);
  }

  /** Runs `work(lock, signal)` while holding the write (exclusive) hold: the rules of `mutex.whileHeld()`. */
  whileWriting<T>(work: ScopedWork<LockHandle, T>, options?: WhileHeldOptions): Observable<T> {
    return this.#writers.whileHeld(work, options);
  }
}

/** @internal Creates an RWLock (`concord.rwlock(name, options)`); validates both arguments. */
export function createRWLock(runtime: Runtime, name: string, options?: LockPrimitiveOptions): RWLock {
  return construct(runtime, name, options);
}
