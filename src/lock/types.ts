import type { Session } from '../session/session.js';

/** Options shared by every lock primitive (`concord.mutex(name, options)` and friends). */
export interface LockPrimitiveOptions {
  /**
   * Session whose lease carries the lock keys. Without it every acquisition grants its own
   * lease (TTL `ttl`) and revokes it on release, so one acquisition's failure never touches another.
   */
  session?: Session;
  /** TTL in seconds (integer >= 2, default 10) of the per-acquisition session. Not allowed with `session`. */
  ttl?: number;
}

/**
 * Options of a waiting acquisition (`lock()`, `read()`, `write()`, `acquire()`).
 *
 * A waiting acquisition outlasts etcd being unreachable once it has written its key: it retries
 * with the Concord's reconnect backoff for as long as its session lives, so a connection cut
 * costs no place in the queue. It rejects with `NotConnectedError` when the per-acquisition
 * session cannot be created, or when etcd stays unreachable for the Concord's `connectTimeoutMs`
 * before its key is written.
 */
export interface LockOptions {
  /**
   * Aborting cancels the wait, removes the waiter's key and rejects with the signal's reason as
   * it is: `AbortSignal.timeout(ms)` rejects with a `DOMException` named `TimeoutError`, not a
   * concord error, which tells a timeout from a loss (`LockLostError`, code `LOCK_LOST`).
   */
  signal?: AbortSignal;
}

/** Options of `concord.semaphore(name, options)`. */
export interface SemaphoreOptions extends LockPrimitiveOptions {
  /** How many holders may hold at once: an integer >= 1. Every user of the semaphore must give the same number. */
  permits: number;
}

/** Options of `mutex.whileHeld()` (and `semaphore.whileHeld()`, `rwlock.whileReading()` / `whileWriting()`). */
export interface WhileHeldOptions {
  /**
   * Stop the work once fewer than this many ms of the lease budget are left without a renewing
   * ack (see `lock.expiring$`): its signal aborts with a `LockLostError` while the lock is still
   * held, so a work step has this long to stop before etcd could hand the lock on. An integer from
   * 0 to half the lease TTL. Default: a third of the TTL, at most 2000 ms.
   */
  marginMs?: number;
  /**
   * After the work was asked to stop (unsubscribe, `concord.close()`, a loss), how long it may take
   * to return before the lock is released anyway (reported as a `DrainTimeoutError` warning). An
   * integer >= 0. Default 10000.
   */
  drainTimeoutMs?: number;
}
