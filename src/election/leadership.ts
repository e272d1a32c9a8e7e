import type { Observable } from 'rxjs';
import { errorText } from '../core/error-text.js';
import type { Runtime } from '../core/runtime.js';
import type { LeadershipLostError } from '../errors.js';
import type { TxnOp } from '../etcd/txn.js';
import { type Claim, FencedHold } from '../queue/fenced-hold.js';
import { checkValue } from './layout.js';

/** Set by Leadership's static block: the one way to construct a Leadership. */
let construct: (claim: Claim<LeadershipLostError>, revision: bigint, value: string) => Leadership;

/**
 * Proof of being the elected leader, emitted by `election.campaign()`. Every write it makes is
 * guarded by `term` (the create revision of its key) on the etcd side, so a leadership that was
 * lost, even one that has not noticed yet, can never change anything.
 */
export class Leadership implements AsyncDisposable {
  /** The leader's candidate key (the Concord namespace stripped). */
  readonly key: string;
  /** The create revision of the key: strictly greater than every earlier leader's term. The fencing token. */
  readonly term: bigint;
  /**
   * Emits a {@link LeadershipLostError} once, then completes, when the leadership is lost
   * (session expired or cut off past its deadline, key deleted). Completes without emitting when
   * it ends by `resign()`, unsubscribe or `concord.close()`. Replays to late subscribers.
   */
  readonly lost$: Observable<LeadershipLostError>;

  readonly #hold: FencedHold<LeadershipLostError>;
  readonly #runtime: Runtime;
  #value: string;
  #resigned: Promise<void> | undefined;

  static {
    construct = (claim, revision, value) => new Leadership(claim, revision, value);
  }

  private constructor(claim: Claim<LeadershipLostError>, revision: bigint, value: string) {
    this.#hold = new FencedHold(claim, revision, this);
    this.#runtime = claim.runtime;
    this.#value = value;
    this.key = this.#hold.key;
    this.term = this.#hold.token;
    this.lost$ = this.#hold.lost$;
  }

  /** The value campaigned with, or the last one proclaimed successfully. */
  get value(): string {
    return this.#value;
  }

  /**
   * True until the leadership is lost or resigned. Flips before etcd can elect anyone else: it
   * re-checks the session's local deadline, so it is exact even right after a process pause.
   */
  get isLeader(): boolean {
    return this.#hold.isHeld;
  }

  /**
   * Aborted when the leadership ends for any reason; pass it to work done as leader. Its reason
   * is a {@link LeadershipLostError} on loss (aborted at once); on resign it aborts right after
   * the resignation is sent, before `resign()` resolves (`isLeader` is false from the call on).
   */
  get signal(): AbortSignal {
    return this.#hold.signal;
  }

  /**
   * Milliseconds left of the lease budget of the session the leadership is held with: how long it
   * is known to lead without another renewing ack. 0 once resigned or lost.
   */
  timeLeft(): number {
    return this.#hold.timeLeft();
  }

  /**
   * Emits once, then completes, as soon as no more than `marginMs` are left of the leadership's
   * lease budget without a renewing ack, or when the leadership is lost, whichever comes first;
   * never later than `lost$`. Completes without emitting on resign. A late subscriber gets the
   * emission at once when already under the margin or lost. For `takeUntil(leadership.expiring$(m))`.
   * Throws `InvalidArgumentError` unless `marginMs` is an integer >= 0.
   */
  expiring$(marginMs: number): Observable<void> {
    return this.#hold.expiring$(marginMs);
  }

  /**
   * Replaces the leader's value (observers of `leader$` see it). Guarded by `term`: rejects with
   * {@link LeadershipLostError} (and ends the leadership) when the key is no longer this
   * leadership's, and writes nothing.
   */
  async proclaim(value: string): Promise<void> {
    const bytes = checkValue(this.#runtime.keys.key(this.key), value);
    // Not written: the hold has ended, and its signal's reason says why.
    if (!(await this.#hold.setValue(bytes))) throw this.#hold.signal.reason;
    this.#value = value;
  }

  /**
   * Gives up the leadership: deletes the key (guarded by `term`; with a session of its own, by
   * revoking that session), which wakes the next candidate at once, and completes the campaign's
   * Observable. Idempotent; resolves once the key is gone (or could not be deleted, in which case
   * its lease expiry removes it).
   */
  resign(): Promise<void> {
    this.#resigned ??= this.#hold.release().catch((err: unknown) => {
      this.#runtime.log.warn('could not delete a leadership key; it goes when its lease expires', {
        key: this.key,
        error: errorText(err),
      });
    });
    return this.#resigned;
  }

  /**
   * Commits `ops` atomically only if this leadership still holds (its key exists with create
   * revision `term`). Resolves to whether it committed; false also ends the leadership as lost.
   * Invalid ops throw {@link InvalidArgumentError} before anything is sent.
   */
  txn(ops: readonly TxnOp[]): Promise<boolean> {
    return this.#hold.txn(ops);
  }

  /** Same as {@link resign}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.resign();
  }

  /** @internal Closed with the Concord: resigns. */
  close(): Promise<void> {
    return this.resign();
  }
}

/** @internal The leadership of the campaign that reached the front of the election at `revision`. */
export function createLeadership(
  claim: Claim<LeadershipLostError>,
  revision: bigint,
  value: string,
): Leadership {
  return construct(claim, revision, value);
}
