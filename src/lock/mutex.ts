import type { Observable } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { type QueueSpace, queueSpace } from '../queue/keys.js';
import { newestAhead } from '../queue/turn.js';
import type { ScopedWork } from '../queue/work-term.js';
import type { LockHandle } from './handle.js';
import { checkPrimitive, LockQueue } from './lock-queue.js';
import type { LockOptions, LockPrimitiveOptions, WhileHeldOptions } from './types.js';

/** Set by Mutex's static block: the one way to construct a Mutex. */
let construct: (runtime: Runtime, name: string, options: LockPrimitiveOptions | undefined) => Mutex;

/**
 * A distributed mutual-exclusion lock named `name`, fair and herd-free.
 *
 * Key layout: each acquisition puts its own key `<name>/<lease id hex>-<n>` with its session's
 * lease; keys are ordered by create revision and the oldest one holds the lock. A waiter
 * watches only the newest key created before its own, so one release wakes exactly one waiter;
 * when that key goes it looks again (a waiter ahead may have given up while an older one still
 * holds). The key names follow etcd's Go client (`<prefix>/<lease hex>`), so Go `concurrency.Mutex`
 * lockers on the prefix `<name>` queue fairly with these. Because every acquisition has its own
 * key, two `lock()` calls in one process (even on one session) exclude each other.
 *
 * The keys under `<name>/` are the queue: `txn()` refuses ops there. Only queue entries count (a
 * key on a lease named by that lease's id, see the README): another key under the prefix is
 * ignored (and logged), so it never blocks a wait.
 */
export class Mutex {
  readonly #queue: LockQueue;
  readonly #space: QueueSpace;

  static {
    construct = (runtime, name, options) => new Mutex(runtime, name, options);
  }

  private constructor(runtime: Runtime, name: string, options?: LockPrimitiveOptions) {
    const opts = checkPrimitive(runtime, name, options);
    const space = queueSpace(`${name}/`);
    this.#space = space;
    const what = `mutex "${name}"`;
    this.#queue = new LockQueue(runtime, opts, {
      what,
      subject: { primitive: 'mutex', name },
      prefix: space.prefix,
      space,
      turnOf: newestAhead(space),
    });
  }

  /**
   * Waits for the lock, first come first served by the create revision of the waiter's key.
   * Aborting `options.signal` removes the waiter's key and rejects with the signal's reason; a
   * session lost while waiting rejects at once with {@link LockLostError}. While etcd is
   * unreachable the wait goes on for as long as the session lives (see {@link LockOptions}).
   */
  lock(options?: LockOptions): Promise<LockHandle> {
    return this.#queue.wait(options);
  }

  /**
   * Takes the lock only if nobody holds it or waits for it, without waiting. On a held lock it
   * writes nothing (one transaction that puts the key only if `<name>/` is empty) and resolves
   * to undefined.
   */
  tryLock(): Promise<LockHandle | undefined> {
    return this.#queue.tryEnter(this.#space);
  }

  /**
   * Acquires on subscribe, emits the handle, errors with LockLostError on loss, releases on
   * unsubscribe.
   * Holds only while subscribed: `firstValueFrom`, `take(1)` and `first()` unsubscribe after the
   * first value, which releases at once; keep the subscription for as long as you hold.
   */
  hold$(): Observable<LockHandle> {
    return this.#queue.hold$();
  }

  /**
   * Runs `work(lock, signal)` while holding the lock, and releases the lock only once the work has
   * stopped. Cold: subscribing queues for the lock; once held, `work` runs (an async function, or
   * a function returning an Observable, which is subscribed), and the returned Observable emits
   * what it yields.
   * - The work returns (the promise resolves, the Observable completes): the lock is released,
   *   then the Observable completes, so the next waiter goes.
   * - The work fails: the lock is released, then the Observable errors with the work's error.
   * - Loss: when fewer than `marginMs` of the lease budget are left without a renewing ack (or the
   *   lock is lost outright, whichever is first), `signal` aborts with a `LockLostError`, while
   *   etcd still holds the lock. The lock is given up once the work has returned, or once the
   *   lease is gone anyway, or after `drainTimeoutMs`; then the Observable errors with that error.
   * - Unsubscribe (or `concord.close()`): `signal` aborts with a `DrainError`; the work gets up to
   *   `drainTimeoutMs` to return (less if the lease runs under the margin meanwhile), and only then
   *   is the lock released, so the next holder never runs alongside it. `concord.close()` waits for
   *   the drain and completes the Observable.
   * Once the signal has aborted, the work rejecting (e.g. with the signal's reason) counts as
   * having stopped, not as a failure. Giving the lock up while the work still runs is logged as a
   * `DrainTimeoutError` warning.
   * Observable work is unsubscribed only once the lock is gone: make it complete on the signal
   * (e.g. `takeUntil(fromEvent(signal, 'abort'))` before the step that must finish). Unsubscribing
   * while waiting cancels the wait. Throws `InvalidArgumentError` for a `work` that is not a
   * function or bad options, before anything is written.
   */
  whileHeld<T>(work: ScopedWork<LockHandle, T>, options?: WhileHeldOptions): Observable<T> {
    return this.#queue.whileHeld(work, options);
  }
}

/** @internal Creates a Mutex (`concord.mutex(name, options)`); validates both arguments. */
export function createMutex(runtime: Runtime, name: string, options?: LockPrimitiveOptions): Mutex {
  return construct(runtime, name, options);
}
