import { performance } from 'node:perf_hooks';
import type { LockAbandonedEvent, LockAcquiredEvent, LockSubject, LockWaitingEvent } from 'concord-etcd';

/** A lock as handoffs count it: both sides of a read-write lock are one lock. */
function lockId(event: LockSubject): string {
  return `${event.primitive}\0${event.name}`;
}

/**
 * Measures lock handoffs seen inside one Concord: from a hold's end (release or loss) to the next
 * acquisition of the same lock by a wait that was already under way. Events arrive synchronously
 * from their emission points, so `performance.now()` at arrival is the time they happened, at a
 * finer grain than their `at`. Keeps state only for locks this Concord is waiting for.
 */
export class LockHandoffs {
  /** Queue keys of the waits under way, with the lock they wait for. */
  readonly #waits = new Map<string, string>();
  /** Per lock with waits under way: how many. */
  readonly #waiting = new Map<string, number>();
  /** Per lock with waits under way: when its last hold ended while they waited. */
  readonly #endedAt = new Map<string, number>();

  waiting(event: LockWaitingEvent): void {
    const id = lockId(event);
    this.#waits.set(event.key, id);
    this.#waiting.set(id, (this.#waiting.get(id) ?? 0) + 1);
  }

  abandoned(event: LockAbandonedEvent): void {
    this.#leave(event.key);
  }

  /** A hold of the lock ended: the start of a handoff, if anyone here waits for it. */
  ended(event: LockSubject): void {
    const id = lockId(event);
    if (this.#waiting.has(id)) this.#endedAt.set(id, performance.now());
  }

  /** The handoff (ms) that ended with this acquisition, if a hold ended while it waited. */
  acquired(event: LockAcquiredEvent): number | undefined {
    const now = performance.now();
    const id = this.#waits.get(event.key);
    if (id === undefined) return undefined;
    const endedAt = this.#endedAt.get(id);
    // One ended hold hands over to one waiter.
    this.#endedAt.delete(id);
    this.#leave(event.key);
    if (endedAt === undefined || endedAt < now - event.waitMs) return undefined;
    return now - endedAt;
  }

  /** Forgets a wait under way (if it is one). */
  #leave(key: string): void {
    const id = this.#waits.get(key);
    if (id === undefined) return;
    this.#waits.delete(key);
    const left = (this.#waiting.get(id) ?? 1) - 1;
    if (left > 0) this.#waiting.set(id, left);
    else {
      this.#waiting.delete(id);
      this.#endedAt.delete(id);
    }
  }
}
