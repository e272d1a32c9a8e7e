import { type Observable, ReplaySubject } from 'rxjs';
import { LeadershipLostError } from '../errors.js';
import type { TxnOp } from '../etcd/txn.js';

/** What a {@link Leadership} asks of the campaign that won it. */
export interface LeadershipControl {
  /** Re-checks the session's local deadline, ending the leadership at once if it passed. */
  check(): void;
  proclaim(value: string): Promise<void>;
  resign(): Promise<void>;
  txn(ops: unknown): Promise<boolean>;
}

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

  readonly #control: LeadershipControl;
  readonly #lost = new ReplaySubject<LeadershipLostError>(1);
  readonly #abort = new AbortController();
  #value: string;

  /** @internal Created by the campaign that won. */
  constructor(key: string, value: string, term: bigint, control: LeadershipControl) {
    this.key = key;
    this.term = term;
    this.#value = value;
    this.#control = control;
    this.lost$ = this.#lost.asObservable();
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
    if (!this.#abort.signal.aborted) this.#control.check();
    return !this.#abort.signal.aborted;
  }

  /**
   * Aborted when the leadership ends for any reason; pass it to work done as leader. Its reason
   * is a {@link LeadershipLostError} on loss.
   */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * Replaces the leader's value (observers of `leader$` see it). Guarded by `term`: rejects with
   * {@link LeadershipLostError} (and ends the leadership) when the key is no longer this
   * leadership's, and writes nothing.
   */
  proclaim(value: string): Promise<void> {
    return this.#control.proclaim(value);
  }

  /**
   * Gives up the leadership: deletes the key (guarded by `term`), which wakes the next candidate
   * at once, and completes the campaign's Observable. Idempotent; resolves once the key is gone
   * (or could not be deleted, in which case its lease expiry removes it).
   */
  resign(): Promise<void> {
    return this.#control.resign();
  }

  /**
   * Commits `ops` atomically only if this leadership still holds (its key exists with create
   * revision `term`). Resolves to whether it committed; false also ends the leadership as lost.
   * Invalid ops throw {@link InvalidArgumentError} before anything is sent.
   */
  txn(ops: readonly TxnOp[]): Promise<boolean> {
    return this.#control.txn(ops);
  }

  /** Same as {@link resign}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.resign();
  }

  /** @internal The campaign records a successful proclaim. */
  setValue(value: string): void {
    this.#value = value;
  }

  /** @internal The campaign ended: `error` when the leadership was lost, undefined when resigned. */
  end(error: LeadershipLostError | undefined): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort(error ?? new LeadershipLostError('the leadership was resigned'));
    if (error) this.#lost.next(error);
    this.#lost.complete();
  }
}
