import type { Observable } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { InvalidArgumentError } from '../errors.js';
import { queueSpace } from '../queue/keys.js';
import { fewerAhead } from '../queue/turn.js';
import type { ScopedWork } from '../queue/work-term.js';
import type { LockHandle } from './handle.js';
import { checkPrimitive, LockQueue } from './lock-queue.js';
import type { LockOptions, SemaphoreOptions, WhileHeldOptions } from './types.js';

/** Set by Semaphore's static block: the one way to construct a Semaphore. */
let construct: (runtime: Runtime, name: string, options: SemaphoreOptions) => Semaphore;

/**
 * A distributed counting semaphore named `name`: at most `permits` holders at any moment,
 * served in arrival order (create revision).
 *
 * Key layout: each acquisition puts its own key `<name>/<lease id hex>-<n>` with its session's
 * lease. A contender holds once fewer than `permits` keys under `<name>/` are older than its
 * own; since keys only ever become newer, that count never grows again, which is what bounds the
 * holders. Permits come back when a holder releases, and when a holder's session ends (its
 * lease is revoked or expires and etcd deletes the key; a holder whose local deadline passes
 * revokes its lease at once, best effort). Any release can free a permit, so waiters follow
 * `<name>/` (one shared watch per Concord through the hub) and count the older keys that go,
 * without re-reading. The keys under `<name>/` are the queue: `txn()` refuses ops there, and keys
 * there that are not queue entries are ignored (see `Mutex`).
 */
export class Semaphore {
  /** The number of permits. */
  readonly permits: number;
  readonly #queue: LockQueue;

  static {
    construct = (runtime, name, options) => new Semaphore(runtime, name, options);
  }

  private constructor(runtime: Runtime, name: string, options: SemaphoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options', 'must be an object with permits', options);
    }
    const { permits, ...rest } = checkPrimitive(runtime, name, options, ['permits']) as SemaphoreOptions;
    if (typeof permits !== 'number' || !Number.isInteger(permits) || permits < 1) {
      throw new InvalidArgumentError('options.permits', 'must be an integer >= 1', permits);
    }
    this.permits = permits;
    const space = queueSpace(`${name}/`);
    const turnOf = fewerAhead(space, permits);
    this.#queue = new LockQueue(runtime, rest, {
      what: `semaphore "${name}"`,
      subject: { primitive: 'semaphore', name },
      prefix: space.prefix,
      space,
      turnOf,
    });
  }

  /**
   * Waits for a permit, first come first served. Aborting `options.signal` removes the waiter's
   * key and rejects with the signal's reason; a session lost while waiting rejects at once with
   * {@link LockLostError}.
   */
  acquire(options?: LockOptions): Promise<LockHandle> {
    return this.#queue.wait(options);
  }

  /**
   * Takes a permit only if one is free and nobody waits, without waiting. It puts its key, counts
   * the keys ahead and, when there are `permits` or more, deletes the key again and resolves to
   * undefined (a shared session keeps nothing; a per-acquisition session is not even granted
   * when the semaphore is visibly full).
   */
  tryAcquire(): Promise<LockHandle | undefined> {
    return this.#queue.tryTurn(this.permits);
  }

  /**
   * {@link acquire} as an Observable: acquire on subscribe, error LockLostError on loss, release on
   * unsubscribe.
   * Holds only while subscribed: `firstValueFrom`, `take(1)` and `first()` unsubscribe after the
   * first value, which releases at once; keep the subscription for as long as you hold.
   */
  hold$(): Observable<LockHandle> {
    return this.#queue.hold$();
  }

  /**
   * Runs `work(permit, signal)` while holding a permit, and gives the permit back only once the
   * work has stopped: the same rules as `mutex.whileHeld()` (loss, drain, margin, drain timeout).
   */
  whileHeld<T>(work: ScopedWork<LockHandle, T>, options?: WhileHeldOptions): Observable<T> {
    return this.#queue.whileHeld(work, options);
  }
}

/** @internal Creates a Semaphore (`concord.semaphore(name, options)`); validates both arguments. */
export function createSemaphore(runtime: Runtime, name: string, options: SemaphoreOptions): Semaphore {
  return construct(runtime, name, options);
}
