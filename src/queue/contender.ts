import { performance } from 'node:perf_hooks';
import { abortable, type LinkedSignal, linkSignals } from '../core/abort.js';
import { afterDispatch } from '../core/dispatch.js';
import { errorText } from '../core/error-text.js';
import type { Runtime } from '../core/runtime.js';
import { ClosedError, SessionLostError } from '../errors.js';
import { retryTransient } from '../etcd/retry.js';
import { toConcordError } from '../etcd/translate.js';
import { leaseCompare } from '../etcd/txn.js';
import type { Session } from '../session/session.js';
import { sessionFor } from '../session/session-choice.js';
import { emitAbandoned, emitWaiting } from './hold-events.js';
import type { EntryNaming, QueueSpace } from './keys.js';
import { countEntries, lookBeforePut, type QueueEntry, type Seen, seenBeforePut } from './keys-ahead.js';
import { createOwnKey, type OwnKey, unchangedSince } from './own-key.js';
import type { QueueTerms } from './terms.js';
import { lookTurn, type TurnOf } from './turn.js';

/** The session to queue on, or the TTL of a session created for one entry (and ended with it). */
export interface SessionChoice {
  session?: Session | undefined;
  ttl?: number | undefined;
}

/** Where and how one contender queues. */
export interface Entry<E extends Error> {
  readonly terms: QueueTerms<E>;
  /** The prefix its own key goes under. */
  readonly prefix: string;
  /** How its key is named. */
  readonly naming: EntryNaming;
  /** Its key's value (a candidate's value; empty for a lock). */
  readonly value: Buffer;
  readonly session: SessionChoice;
}

/**
 * One entry in a create-revision-ordered queue (a lock's or an election's): its own key, put on
 * its session's lease, whose create revision is its place in the queue and, once it holds, its
 * fencing token. It waits for its turn by a rule (`TurnOf`), retrying while etcd is unreachable
 * for as long as its session lives, and stops at once when the caller's signal aborts, the
 * session ends or the Concord closes. Whatever ends a wait takes the entry out of the queue again.
 */
export class Contender<E extends Error> implements QueueEntry {
  private constructor(
    readonly runtime: Runtime,
    readonly terms: QueueTerms<E>,
    readonly session: Session,
    /** Whether the session was created for this entry (and ends with it). */
    readonly owned: boolean,
    readonly key: string,
    readonly createRevision: bigint,
    /** The caller's signal: aborting it ends a wait. */
    readonly callerSignal: AbortSignal | undefined,
    /** When the acquisition was asked for (`performance.now()`): waits are counted from here. */
    readonly startedAt: number,
  ) {}

  /** The queue ahead as read by the entering transaction, for the first look by `rule`. */
  #seen: { rule: TurnOf; seen: Seen } | undefined;

  /**
   * Puts the caller's key (named by `entry.naming` under `entry.prefix`, with the session's
   * lease) at the back of the queue, retrying while etcd is unreachable, for up to the Concord's
   * `connectTimeoutMs` of unreachability (then `NotConnectedError`: it has no place to keep yet).
   * Rejects at once when `signal` aborts, the session ends or the Concord closes; a key that still
   * lands afterwards is removed again (an owned session is closed, which takes the key with its
   * lease). With `rule`, the same transaction reads the queue ahead for the first look of
   * {@link waitTurn} by that rule, which then costs no round trip of its own.
   */
  static async enter<E extends Error>(
    runtime: Runtime,
    entry: Entry<E>,
    signal: AbortSignal | undefined,
    rule?: TurnOf,
  ): Promise<Contender<E>> {
    const { terms } = entry;
    const startedAt = performance.now();
    runtime.assertOpen(terms.what);
    signal?.throwIfAborted();
    // Round trip (LeaseGrant, without a caller's session): the entry's own lease, so its key dies
    // with it, a loss ends only this entry, and releasing it is one revoke.
    const { session, owned } = await sessionFor(runtime, entry.session, terms.what);
    const key = entry.naming.key(entry.prefix, session.leaseId);
    const stop = stopSignal(runtime, session, signal);
    // Round trip (Txn): the key's create revision is the entry's place (FIFO) and its fencing
    // token; the same Txn reads the queue ahead, the first look at the turn.
    const look = rule && lookBeforePut(runtime, rule.space, rule.limit);
    let putting: Promise<OwnKey> | undefined;
    const put = (bounded: AbortSignal) => {
      putting = retryTransient(runtime, terms.what, bounded, () =>
        createOwnKey(runtime, key, entry.value, session.leaseId, { look }),
      ).then((own) => {
        if (own === undefined) throw terms.lost(`${terms.what}: ${key} exists on another lease`);
        return own;
      });
      return abortable(putting, bounded);
    };
    try {
      const own = await runtime.monitor.bounded(terms.what, stop.signal, put);
      stop.unlink();
      const { createRevision, looked } = own;
      const contender = new Contender(runtime, terms, session, owned, key, createRevision, signal, startedAt);
      const seen = rule && looked && seenBeforePut(runtime, rule.space, rule.limit, createRevision, looked);
      if (rule && seen) contender.#seen = { rule, seen };
      return contender;
    } catch (err) {
      stop.unlink();
      const error = waitError(err, runtime, session, terms);
      const leave = () => withdraw(runtime, key, session);
      if (owned) await session.close();
      // A key named per lease is the next entry's key too: it must be gone before anyone learns
      // this entry is over, or the next one could adopt it just before it is deleted.
      else if (entry.naming.perLease) await putting?.then(leave, leave);
      else void putting?.then(leave, leave);
      throw error;
    }
  }

  /**
   * Puts the caller's key only if no queue entry exists in `free`: it reads the prefix (a taken
   * lock costs that read and writes nothing, granting no lease either), then puts the key only if
   * nothing under the prefix changed since (one transaction), so it never disturbs the queue.
   * Resolves to the contender at the front, or undefined when something is ahead or the prefix
   * changed meanwhile (an owned session is closed again then).
   */
  static async enterIfFree<E extends Error>(
    runtime: Runtime,
    entry: Entry<E>,
    free: QueueSpace,
  ): Promise<Contender<E> | undefined> {
    const { terms } = entry;
    const startedAt = performance.now();
    runtime.assertOpen(terms.what);
    const seen = await countEntries(runtime, free, 1, terms.what);
    if (seen.count > 0) return undefined;
    const { session, owned } = await sessionFor(runtime, entry.session, terms.what);
    const key = entry.naming.key(entry.prefix, session.leaseId);
    let own: OwnKey | undefined;
    try {
      const onlyIf = unchangedSince(runtime, free.prefix, seen.revision);
      own = await createOwnKey(runtime, key, entry.value, session.leaseId, { onlyIf });
    } catch (err) {
      if (owned) await session.close();
      else void withdraw(runtime, key, session);
      throw toConcordError(err, terms.what);
    }
    if (own !== undefined) {
      return new Contender(runtime, terms, session, owned, key, own.createRevision, undefined, startedAt);
    }
    if (owned) await session.close();
    return undefined;
  }

  /**
   * Waits until `turnOf` reports the contender at the front, waiting as it says in between, and
   * resolves with the revision at which it was found there with its own key intact. Rejects at
   * once when the caller's signal aborts (with its reason), when the session ends (the terms'
   * loss error, caused by the session's reason), when the Concord closes ({@link ClosedError}),
   * or when the contender's own key vanished (the terms' loss error); the contender has left the
   * queue by then.
   */
  async waitTurn(turnOf: TurnOf): Promise<bigint> {
    const { runtime, terms } = this;
    emitWaiting(runtime.events, terms.subject, this.key);
    const stop = stopSignal(runtime, this.session, this.callerSignal);
    // The watch of the last wait, kept until the next one (or the holder's) is attached.
    let dropWatch: (() => void) | undefined;
    try {
      for (;;) {
        this.#throwIfStopped(stop);
        const seen = this.#takeSeen(turnOf);
        const turn = await abortable(
          retryTransient(runtime, terms.what, stop.signal, () => lookTurn(runtime, this, turnOf, seen)),
          stop.signal,
        );
        if (turn.lost) throw terms.lost(`${terms.what}: its key ${this.key} vanished while waiting`);
        let front: bigint | undefined = turn.revision;
        if (turn.wait) {
          const waiting = turn.wait(stop.signal);
          dropWatch?.();
          const waited = await waiting;
          dropWatch = waited.drop;
          front = waited.front;
        }
        if (front === undefined) continue;
        // The key existed at `front`, but a process that was paused may already be past its
        // session's local deadline: then the lease may expire any moment, so it must not hold.
        this.#throwIfStopped(stop);
        return front;
      }
    } catch (err) {
      const error = waitError(err, runtime, this.session, terms);
      emitAbandoned(runtime.events, terms.subject, this, error, stop.signal.aborted);
      await this.leave();
      throw error;
    } finally {
      stop.unlink();
      // The holder attaches its own watch in the next check phase (see FencedHold): dropping this
      // one only in the check phase after that keeps the Concord's watch stream open across the
      // handoff.
      if (dropWatch) void afterDispatch().then(afterDispatch).then(dropWatch);
    }
  }

  /**
   * Looks at the queue once, without waiting: resolves to the revision at which the contender is
   * at the front, or takes it out of the queue and resolves to undefined.
   */
  async tryTurn(turnOf: TurnOf): Promise<bigint | undefined> {
    try {
      const turn = await lookTurn(this.runtime, this, turnOf, this.#takeSeen(turnOf));
      if (!turn.lost && !turn.wait) return turn.revision;
    } catch (err) {
      await this.leave();
      throw toConcordError(err, this.terms.what);
    }
    await this.leave();
    return undefined;
  }

  /**
   * Takes the contender out of the queue: closes its own session, or deletes its key. Never
   * throws: a key that cannot be deleted goes with its session's lease.
   */
  async leave(): Promise<void> {
    if (this.owned) await this.session.close();
    else await withdraw(this.runtime, this.key, this.session);
  }

  /** The look made while entering, once, if it was made by `rule`. */
  #takeSeen(rule: TurnOf): Seen | undefined {
    const made = this.#seen;
    this.#seen = undefined;
    return made?.rule === rule ? made.seen : undefined;
  }

  #throwIfStopped(stop: LinkedSignal): void {
    // Reading isLost checks the local deadline (a passed one aborts the session's signal), so a
    // process just resumed from a pause learns of a loss before it trusts anything it read earlier.
    if (this.session.isLost || stop.signal.aborted) stop.signal.throwIfAborted();
  }
}

/**
 * Aborts when the caller's `signal` aborts, the session is lost or ends, or the Concord closes.
 * Linked, not `AbortSignal.any`: the Concord's signal (and a shared session's) outlives every
 * wait, and the caller unlinks it when the wait is over.
 */
function stopSignal(runtime: Runtime, session: Session, signal: AbortSignal | undefined): LinkedSignal {
  return linkSignals(signal ? [session.signal, runtime.signal, signal] : [session.signal, runtime.signal]);
}

/**
 * The error a failed entry or wait reports: the terms' loss error when its session ended (lost,
 * or closed by its owner while the Concord stays open), {@link ClosedError} when the Concord
 * closes, the caller's abort reason as it is, anything else typed by {@link toConcordError}.
 */
function waitError<E extends Error>(
  err: unknown,
  runtime: Runtime,
  session: Session,
  terms: QueueTerms<E>,
): unknown {
  if (err instanceof SessionLostError || (err === session.signal.reason && !runtime.closed)) {
    return terms.lost(`${terms.what}: its session ended while waiting`, err);
  }
  if (err instanceof ClosedError) return err;
  return toConcordError(err, terms.what);
}

/**
 * Deletes `key` if it is on `session`'s lease. The key name is unique to one entry, so the lease
 * proves it is ours even when the put's outcome (and so its create revision) is unknown. Never
 * throws: a key that cannot be deleted goes with the lease.
 */
async function withdraw(runtime: Runtime, key: string, session: Session): Promise<void> {
  if (session.isLost) return;
  try {
    await runtime.etcd.kv.txn({
      compare: [leaseCompare(runtime, key, session.leaseId)],
      success: [{ request_delete_range: { key: runtime.keys.key(key) } }],
      failure: [],
    });
  } catch (err) {
    runtime.log.warn('could not remove a queue key; it goes with its session', {
      key,
      error: errorText(err),
    });
  }
}
