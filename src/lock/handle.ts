import { type Observable, ReplaySubject, type Subscription } from 'rxjs';
import { errorText } from '../core/error-text.js';
import { ClosedError, LockLostError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { guardedTxn, type TxnOp, toRequestOps } from '../etcd/txn.js';
import { keyReplaced } from '../queue/queue.js';
import { hubOf } from '../watch/hub.js';
import type { Contender } from './acquire.js';

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
   * closed, key deleted). Completes without emitting when the handle is released. Replays to
   * late subscribers.
   */
  readonly lost$: Observable<LockLostError>;

  readonly #contender: Contender;
  readonly #lost = new ReplaySubject<LockLostError>(1);
  readonly #abort = new AbortController();
  readonly #untrack: () => void;
  readonly #watch: Subscription;
  readonly #onSessionEnd = () => this.#markLost('its session ended', this.#contender.session.signal.reason);
  #released: Promise<void> | undefined;

  /** @internal Created by an acquisition that reached the front of its queue at `revision`. */
  constructor(contender: Contender, revision: bigint) {
    this.#contender = contender;
    this.key = contender.key;
    this.fencingToken = contender.createRevision;
    this.lost$ = this.#lost.asObservable();
    const { runtime, session } = contender;
    this.#untrack = runtime.track(this);
    session.signal.addEventListener('abort', this.#onSessionEnd, { once: true });
    this.#watch = hubOf(runtime)
      .watch({ key: this.key }, { fromRevision: revision + 1n })
      .subscribe({
        next: (batch) => {
          if (keyReplaced(batch, this.key, this.fencingToken)) this.#markLost('its key was deleted');
        },
        error: (err: unknown) => {
          runtime.log.warn('watching a held lock key failed; relying on the session alone', {
            key: this.key,
            error: errorText(err),
          });
        },
      });
    if (session.signal.aborted) this.#onSessionEnd();
  }

  /** True until the lock is released or lost; reading it checks the session's local deadline. */
  get isHeld(): boolean {
    // Reading isLost checks the session's local deadline first; a passed deadline ends this handle.
    if (this.#contender.session.isLost) return false;
    return !this.#abort.signal.aborted;
  }

  /** Aborted when the handle ends: with a {@link LockLostError} on loss, a {@link ClosedError} on release. Pass it to work done under the lock. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * Commits `ops` atomically only if the lock is still held: etcd checks that the key exists
   * with `fencingToken` as its create revision. Resolves to false, writing nothing, once the lock
   * is lost (and then marks the handle lost). Invalid ops throw before anything is sent.
   */
  async txn(ops: TxnOp[]): Promise<boolean> {
    const { runtime } = this.#contender;
    toRequestOps(runtime, ops);
    if (!this.isHeld) return false;
    let committed: boolean;
    try {
      committed = await guardedTxn(runtime, this.key, this.fencingToken, ops);
    } catch (err) {
      throw toConcordError(err, `${this.#contender.what}: txn`);
    }
    if (!committed) this.#markLost('its key is gone (a guarded txn failed)');
    return committed;
  }

  /**
   * Releases the lock: revokes the per-acquisition session, or (on a shared session) deletes the
   * key guarded by its create revision, so a late release never deletes another holder's key or a
   * newer key of the same session. Idempotent; does nothing to etcd after a loss. Rejects with a
   * NotConnectedError if the key could not be deleted; it then goes when the session ends.
   */
  release(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }

  /** Same as {@link release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** @internal Closed with the Concord: releases. */
  close(): Promise<void> {
    return this.release();
  }

  async #release(): Promise<void> {
    const { runtime, session, owned, what } = this.#contender;
    const wasHeld = this.#end(new ClosedError(`${what}: released`));
    if (wasHeld) this.#lost.complete();
    if (owned) {
      await session.close();
      return;
    }
    if (!wasHeld || session.isLost) return;
    try {
      await guardedTxn(runtime, this.key, this.fencingToken, [{ type: 'delete', key: this.key }]);
    } catch (err) {
      throw toConcordError(err, `${what}: release`);
    }
  }

  #markLost(why: string, cause?: unknown): void {
    const { what, owned, session } = this.#contender;
    const error = new LockLostError(`${what}: lock ${this.key} lost, ${why}`, { cause });
    if (!this.#end(error)) return;
    this.#lost.next(error);
    this.#lost.complete();
    // The lease of a per-acquisition session has nothing else to protect: free it now.
    if (owned) void session.close();
  }

  /** Ends the handle once; returns whether this call ended it. */
  #end(reason: Error): boolean {
    if (this.#abort.signal.aborted) return false;
    this.#abort.abort(reason);
    this.#watch.unsubscribe();
    this.#contender.session.signal.removeEventListener('abort', this.#onSessionEnd);
    this.#untrack();
    return true;
  }
}
