import type { Observable } from 'rxjs';
import type { LockLostError } from '../errors.js';
import type { TxnOp } from '../etcd/txn.js';
import { type Claim, FencedHold } from '../queue/fenced-hold.js';

/** Set by LockHandle's static block: the one way to construct a LockHandle. */
let construct: (claim: Claim<LockLostError>, revision: bigint) => LockHandle;

/**
 * A held lock: a mutex, one side of a read-write lock, or one semaphore permit. It is held
 * while its key exists with its create revision (`fencingToken`) and its session's local
 * deadline has not passed.
 *
 * The handle learns of a loss from the session (lost or closed: before etcd can hand the lock
 * on) and from a watch on its own key (deleted or re-created behind its back). `txn()` and
 * `release()` are guarded by the fencing token on the etcd side, so a stale holder can never
 * write or delete anything, even before it noticed the loss.
 */
export class LockHandle implements AsyncDisposable {
  /** The lock key (the Concord namespace stripped): unique to this acquisition. */
  readonly key: string;
  /** The key's create revision. Strictly greater than the token of every earlier holder of the same mutex or write lock. */
  readonly fencingToken: bigint;
  /**
   * Emits a {@link LockLostError} once, then completes, when the lock is lost (session lost or
   * closed, key deleted). Completes without emitting once the handle is released. Replays to
   * late subscribers.
   */
  readonly lost$: Observable<LockLostError>;

  readonly #hold: FencedHold<LockLostError>;

  static {
    construct = (claim, revision) => new LockHandle(claim, revision);
  }

  private constructor(claim: Claim<LockLostError>, revision: bigint) {
    this.#hold = new FencedHold(claim, revision, this);
    this.key = this.#hold.key;
    this.fencingToken = this.#hold.token;
    this.lost$ = this.#hold.lost$;
  }

  /** True until the lock is released or lost; reading it checks the session's local deadline. */
  get isHeld(): boolean {
    return this.#hold.isHeld;
  }

  /**
   * Aborted when the handle ends: at once with a {@link LockLostError} on loss; with a
   * `ClosedError` on release, right after the release is sent and before `release()` resolves
   * (`isHeld` is false from the call on). Pass it to work done under the lock.
   */
  get signal(): AbortSignal {
    return this.#hold.signal;
  }

  /**
   * Milliseconds left of the lease budget of the session that holds the lock: how long the lock
   * is known to be held without another renewing ack. 0 once released or lost.
   */
  timeLeft(): number {
    return this.#hold.timeLeft();
  }

  /**
   * Emits once, then completes, as soon as no more than `marginMs` are left of the lock's lease
   * budget without a renewing ack, or when the lock is lost (session lost, key deleted), whichever
   * comes first; never later than `lost$`. Completes without emitting on release. A late
   * subscriber gets the emission at once when already under the margin or lost. For
   * `takeUntil(lock.expiring$(m))`. Throws `InvalidArgumentError` unless `marginMs` is an integer >= 0.
   */
  expiring$(marginMs: number): Observable<void> {
    return this.#hold.expiring$(marginMs);
  }

  /**
   * Commits `ops` atomically only if the lock is still held: etcd checks that the key exists
   * with `fencingToken` as its create revision. Resolves to false, writing nothing, once the lock
   * is lost (and then marks the handle lost). Invalid ops throw before anything is sent.
   */
  txn(ops: readonly TxnOp[]): Promise<boolean> {
    return this.#hold.txn(ops);
  }

  /**
   * Releases the lock: revokes the per-acquisition session, or (on a shared session) deletes the
   * key guarded by its create revision, so a late release never deletes another holder's key or a
   * newer key of the same session. Idempotent; does nothing to etcd after a loss. Rejects with a
   * NotConnectedError if the key could not be deleted; it then goes when the session ends.
   */
  release(): Promise<void> {
    return this.#hold.release();
  }

  /** Same as {@link release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** @internal Closed with the Concord: releases. */
  close(): Promise<void> {
    return this.release();
  }
}

/** @internal The handle of an acquisition that reached the front of its queue at `revision`. */
export function createLockHandle(claim: Claim<LockLostError>, revision: bigint): LockHandle {
  return construct(claim, revision);
}
