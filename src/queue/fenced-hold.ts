import { performance } from 'node:perf_hooks';
import { filter, map, merge, Observable, ReplaySubject, type Subscription } from 'rxjs';
import { afterDispatch } from '../core/dispatch.js';
import { errorText } from '../core/error-text.js';
import type { Closable, Runtime } from '../core/runtime.js';
import { InvalidArgumentError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { guardedTxn, ownKeyCompare, type TxnOp, toRequestOps } from '../etcd/txn.js';
import type { LossReason } from '../events/types.js';
import { type BudgetEvent, checkMargin, expiringAlarm } from '../session/budget.js';
import { closeForHandOff, type Session } from '../session/session.js';
import { hubOf } from '../watch/hub.js';
import { emitAcquired, emitEnded } from './hold-events.js';
import { keyReplaced } from './key-replaced.js';
import type { QueueTerms } from './terms.js';

/** What a hold is made of: a queue entry that reached the front (a `Contender`). */
export interface Claim<E extends Error> {
  readonly runtime: Runtime;
  readonly terms: QueueTerms<E>;
  readonly session: Session;
  /** Whether the session was created for this entry (and ends with it). */
  readonly owned: boolean;
  readonly key: string;
  readonly createRevision: bigint;
  /** When the acquisition was asked for (`performance.now()`). */
  readonly startedAt: number;
}

/**
 * A held queue key: what a `LockHandle` or a `Leadership` holds. It holds while its key exists
 * with its create revision (`token`, the fencing token) and its session's local deadline has not
 * passed.
 *
 * It learns of a loss from the session (lost or closed: before etcd can hand the key on), from a
 * watch on its own key (deleted or re-created behind its back), and from a guarded write whose
 * compare failed. A loss is reported once and synchronously: `signal` aborts with the terms' loss
 * error and `lost$` emits it, before anything else runs. Writes and the release are guarded by
 * the token on etcd's side, so a stale holder can never change anything, even before it noticed.
 *
 * Everything that works under a hold hangs off this one place: its session (and so its lease
 * budget), `signal` for work scoped to the hold, and a release that runs only when asked, so
 * such work can drain first.
 */
export class FencedHold<E extends Error> {
  /** The held key (the Concord namespace stripped). */
  readonly key: string;
  /** The key's create revision: the fencing token. */
  readonly token: bigint;
  /** Emits the loss error once, then completes; completes without emitting once a release has finished. Replays. */
  readonly lost$: Observable<E>;

  readonly #claim: Claim<E>;
  readonly #lost = new ReplaySubject<E>(1);
  readonly #abort = new AbortController();
  readonly #untrack: () => void;
  #watch: Subscription | undefined;
  readonly #onSessionEnd = () =>
    this.#markLost('session', 'its session ended', this.#claim.session.signal.reason);
  /** When the hold began (`performance.now()`), for the hold time its end event reports. */
  readonly #heldAt = performance.now();
  #released: Promise<void> | undefined;
  /** Set (before `signal` aborts) when the hold ended by a loss rather than a release. */
  #lostBy: E | undefined;
  /** Set when a release began: from then on the hold is not held, and no loss is reported. */
  #releasing = false;

  /**
   * Holds `claim`, found at the front of its queue at `revision`. `owner` (the public handle) is
   * closed with the Concord for as long as the hold lasts.
   */
  constructor(claim: Claim<E>, revision: bigint, owner: Closable) {
    this.#claim = claim;
    this.key = claim.key;
    this.token = claim.createRevision;
    this.lost$ = this.#lost.asObservable();
    const { runtime, session, terms } = claim;
    emitAcquired(runtime.events, terms.subject, this, claim.startedAt);
    this.#untrack = runtime.track(owner);
    session.signal.addEventListener('abort', this.#onSessionEnd, { once: true });
    if (session.signal.aborted) this.#onSessionEnd();
    // The watch starts at the revision the hold was found at, so attaching it in the next check
    // phase misses nothing, and whoever acquired learns of it without waiting for the write.
    void afterDispatch().then(() => this.#watchOwnKey(revision));
  }

  /**
   * Watch create (a stream message): learns of the key deleted or replaced behind the holder's
   * back from `revision + 1` on. Lingering: when the hold ends, the watch is cancelled before the
   * release is sent (so etcd does not send it the delete), but the stream, often the Concord's
   * last, is closed only after the release is on its way, which the successor would otherwise
   * wait for too.
   */
  #watchOwnKey(revision: bigint): void {
    if (this.#releasing || this.#abort.signal.aborted) return;
    const { runtime, terms, owned } = this.#claim;
    this.#watch = hubOf(runtime)
      .watch({ key: this.key }, { fromRevision: revision + 1n }, { linger: true })
      .subscribe({
        next: (batch) => {
          if (keyReplaced(batch, this.key, this.token))
            this.#markLost('deleted', 'its key was deleted or replaced');
        },
        error: (err: unknown) => {
          if (terms.unwatchedIsLoss) {
            this.#markLost('unwatched', 'its key can no longer be watched', err);
            // Unlike every other loss this one leaves the key standing: give it up.
            if (!owned) this.#deleteKey().catch((e: unknown) => this.#warn('could not delete it', e));
          } else this.#warn('relying on the session alone', err);
        },
      });
    // A batch delivered during subscribe may already have ended the hold.
    if (this.#abort.signal.aborted) this.#watch.unsubscribe();
  }

  /** True until the hold is released or lost; reading it checks the session's local deadline. */
  get isHeld(): boolean {
    // A passed deadline ends the session, whose listener ends this hold at once.
    if (this.#claim.session.isLost) return false;
    return !this.#releasing && !this.#abort.signal.aborted;
  }

  /**
   * Aborted when the hold ends: with the loss error at once on loss; with the terms' `released()`
   * reason on release, right after the release request is on its way (and before it resolves).
   */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Milliseconds left of its session's lease budget while the hold holds; 0 once it ended. */
  timeLeft(): number {
    return this.isHeld ? this.#claim.session.timeLeft() : 0;
  }

  /**
   * Emits once, then completes, as soon as no more than `marginMs` are left of the session's
   * budget without a renewing ack, or at the hold's loss (whatever its cause), whichever comes
   * first; never later than `lost$`. Completes without emitting when the hold is released.
   * Throws InvalidArgumentError unless `marginMs` is an integer >= 0.
   */
  expiring$(marginMs: number): Observable<void> {
    checkMargin('marginMs', marginMs);
    const ends$ = new Observable<BudgetEvent>((subscriber) => {
      const report = () => subscriber.next(this.#lostBy === undefined ? 'ended' : 'lost');
      if (this.#abort.signal.aborted) {
        report();
        return undefined;
      }
      this.#abort.signal.addEventListener('abort', report, { once: true });
      return () => this.#abort.signal.removeEventListener('abort', report);
    });
    // A session closed under the hold ends the hold as lost right after: its own end decides.
    const renewals$ = this.#claim.session.state$.pipe(
      filter((s) => s.status !== 'closed'),
      map((s): BudgetEvent => (s.status === 'lost' ? 'lost' : 'renewed')),
    );
    return expiringAlarm(marginMs, () => this.timeLeft(), merge(ends$, renewals$));
  }

  /**
   * Commits `ops` atomically only if the hold still holds (etcd compares the key's create revision
   * with the token), exactly once. Resolves to false, writing nothing, once it does not (and then
   * marks the hold lost). Invalid ops throw before anything is sent, even after a loss, and so
   * does an op on a key inside the primitive's own queue prefix: such a key would be taken for a
   * queue entry (or be the hold's own key) and could block every later waiter.
   */
  async txn(ops: readonly TxnOp[]): Promise<boolean> {
    const { runtime, terms } = this.#claim;
    toRequestOps(runtime, ops);
    outsideQueue(ops, terms);
    return this.#guarded('txn', () => guardedTxn(runtime, this.key, this.token, ops));
  }

  /**
   * Replaces the value of the held key (on the same lease), guarded by the token. Resolves to
   * whether it was written; false also marks the hold lost. Unlike {@link txn} it is retried after
   * a lost answer: writing the same value under the same token twice is harmless, and a retry that
   * finds the token gone reports a real loss.
   */
  setValue(value: Buffer): Promise<boolean> {
    const { runtime, session } = this.#claim;
    return this.#guarded('write', async () => {
      const res = await runtime.etcd.kv.txn({
        compare: [ownKeyCompare(runtime, this.key, this.token)],
        success: [{ request_put: { key: runtime.keys.key(this.key), value, lease: session.leaseId } }],
        failure: [],
      });
      return res.succeeded;
    });
  }

  /**
   * Ends the hold and gives the key up: revokes a session created for it, or (on a shared
   * session) deletes the key guarded by the token, so a late release never deletes another
   * holder's key or a newer key of the same session. Idempotent; does nothing to etcd after a
   * loss. Rejects with a NotConnectedError if the key could not be deleted; it then goes when
   * its session ends.
   */
  release(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }

  async #release(): Promise<void> {
    const { runtime, session, owned, terms } = this.#claim;
    const wasHeld = !this.#releasing && !this.#abort.signal.aborted;
    this.#releasing = true;
    // The cancel of the own-key watch is written before the release request is made, so etcd
    // does not send this holder its own delete. The rest of the end (the signal's abort and
    // whatever listens to it, the end event) waits for the event loop's next check phase: etcd3
    // makes the release request a few promise hops from here (and grpc-js writes it later still),
    // and the successor waits for that write, not for this bookkeeping.
    if (wasHeld) this.#watch?.unsubscribe();
    const ended =
      wasHeld &&
      afterDispatch().then(() => {
        this.#end(terms.released());
        emitEnded(runtime.events, terms.subject, this, this.#heldAt, undefined);
      });
    try {
      // Round trip (LeaseRevoke, or a Txn delete guarded by the token on a shared session): the one
      // write that hands the key on; the guard never deletes another holder's key.
      if (owned) await closeForHandOff(session);
      else if (wasHeld && !session.isLost) await this.#deleteKey();
    } catch (err) {
      throw toConcordError(err, `${terms.what}: release`);
    } finally {
      // Only now: whoever waits for the end (a campaign completing) learns it once the key is gone.
      if (ended) {
        await ended;
        this.#lost.complete();
      }
    }
  }

  #warn(what: string, err: unknown): void {
    this.#claim.runtime.log.warn(`watching a held key failed; ${what}`, {
      key: this.key,
      error: errorText(err),
    });
  }

  /** Deletes the key, guarded by the token (so never another holder's key). */
  async #deleteKey(): Promise<void> {
    // Unary calls share the watch stream's connection (grpc-js shares one connection per member
    // between its service clients; the http2 transport carries the watch stream on its session),
    // so etcd gets the cancel of the own-key watch first and does not send this holder its own
    // delete: one wake-up per release, the successor's.
    await guardedTxn(this.#claim.runtime, this.key, this.token, [{ type: 'delete', key: this.key }]);
  }

  async #guarded(op: string, commit: () => Promise<boolean>): Promise<boolean> {
    if (!this.isHeld) return false;
    let committed: boolean;
    try {
      committed = await commit();
    } catch (err) {
      throw toConcordError(err, `${this.#claim.terms.what}: ${op}`);
    }
    if (!committed) this.#markLost('refused', `a guarded ${op} found its key gone`);
    return committed;
  }

  #markLost(reason: LossReason, why: string, cause?: unknown): void {
    const { terms, owned, session } = this.#claim;
    if (this.#releasing || this.#abort.signal.aborted) return;
    const error = terms.lost(`${terms.what}: ${this.key} lost, ${why}`, cause);
    this.#lostBy = error;
    this.#end(error);
    emitEnded(this.#claim.runtime.events, terms.subject, this, this.#heldAt, reason);
    this.#lost.next(error);
    this.#lost.complete();
    // The lease of a session created for this hold has nothing else to protect: free it now.
    if (owned) void session.close();
  }

  /** Ends the hold once; returns whether this call ended it. */
  #end(reason: Error): boolean {
    if (this.#abort.signal.aborted) return false;
    this.#abort.abort(reason);
    // Undefined until attached (see #watchOwnKey), and while it subscribes.
    this.#watch?.unsubscribe();
    this.#claim.session.signal.removeEventListener('abort', this.#onSessionEnd);
    this.#untrack();
    return true;
  }
}

/** Throws {@link InvalidArgumentError} naming the first op whose key lies inside the primitive's queue prefix. */
function outsideQueue(ops: readonly TxnOp[], terms: QueueTerms<Error>): void {
  const { prefix } = terms.space;
  const i = ops.findIndex((op) => op.key.startsWith(prefix));
  if (i >= 0) {
    throw new InvalidArgumentError(
      `ops[${i}].key`,
      `must not be inside the queue prefix '${prefix}' of ${terms.what}: keys there are the queue of waiters (keep data elsewhere, e.g. beside the name rather than under it)`,
      ops[i]!.key,
    );
  }
}
