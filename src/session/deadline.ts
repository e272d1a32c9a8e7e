import { performance } from 'node:perf_hooks';

/** A monotonic clock in milliseconds; `performance.now()` unless a test injects another. */
export type Clock = () => number;

const monotonic: Clock = () => performance.now();

/**
 * The local deadline of a lease: until then the lease is known to exist. Each renewing answer
 * moves it to the time the answered keepalive was SENT plus the TTL etcd granted (etcd counts
 * from when it received the request, which is later, so the local deadline passes first). It
 * never moves back, and once it has passed it stays passed: an answer that arrives late proves
 * nothing about the time in between, during which etcd may have expired the lease.
 *
 * Pure arithmetic over an injectable clock: it sets no timer. Its owner asks `timeLeft()` now,
 * or `untilLeft(m)` for how long until fewer than `m` ms are left, and arms its own timers.
 */
export class LeaseDeadline {
  #at: number;
  #interrupted = false;

  /**
   * @param grantSentAt when the grant request was sent (clock ms)
   * @param ttlMs the TTL etcd granted, in ms: the first deadline is `grantSentAt + ttlMs`
   */
  constructor(
    grantSentAt: number,
    readonly ttlMs: number,
    private readonly now: Clock = monotonic,
  ) {
    this.#at = grantSentAt + ttlMs;
  }

  /** The deadline on the clock's scale. */
  get at(): number {
    return this.#at;
  }

  /** Whether the deadline has passed (now or earlier). */
  get passed(): boolean {
    return this.now() >= this.#at;
  }

  /** Whether renewals are interrupted (the keepalive stream is down) since the last renewal. */
  get interrupted(): boolean {
    return this.#interrupted;
  }

  /** Milliseconds until the deadline; 0 once it has passed. */
  timeLeft(): number {
    return Math.max(0, this.#at - this.now());
  }

  /**
   * Milliseconds from now until fewer than `marginMs` are left, if no renewal comes first; 0 when
   * that is already the case. Renewals move this point: ask again after each one.
   */
  untilLeft(marginMs: number): number {
    return Math.max(0, this.#at - marginMs - this.now());
  }

  /**
   * Milliseconds from now until the lease is `expiring`: less than half the TTL left, so the
   * renewal due every third of it is overdue. (Renewals interrupted make it `expiring` at once.)
   */
  untilExpiring(): number {
    return this.untilLeft(this.ttlMs / 2);
  }

  /**
   * etcd answered the keepalive sent at `sentAt` with `grantedSeconds` of TTL. Returns false,
   * and changes nothing, when the deadline has already passed; otherwise moves the deadline (never
   * back) and ends an interruption.
   */
  renew(sentAt: number, grantedSeconds: number): boolean {
    if (this.passed) return false;
    this.#interrupted = false;
    this.#at = Math.max(this.#at, sentAt + grantedSeconds * 1000);
    return true;
  }

  /** The keepalive stream broke or stopped answering: the lease is `expiring` until the next renewal. */
  interrupt(): void {
    this.#interrupted = true;
  }
}
