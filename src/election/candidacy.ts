import type { ICompare } from 'etcd3';
import type { Subscriber, Subscription } from 'rxjs';
import { errorText } from '../core/error-text.js';
import type { Closable, Runtime } from '../core/runtime.js';
import { ClosedError, ConcordError, LeadershipLostError } from '../errors.js';
import { retryTransient } from '../etcd/retry.js';
import { toConcordError } from '../etcd/translate.js';
import { guardedTxn, leaseCompare, ownKeyCompare, toRequestOps } from '../etcd/txn.js';
import { createOwnKey, keyReplaced, keysAhead, waitDeleted } from '../queue/queue.js';
import { type Session, sessionFor } from '../session/session.js';
import { hubOf } from '../watch/hub.js';
import { candidateKey, checkValue } from './layout.js';
import { Leadership } from './leadership.js';

/** What one campaign needs to know: where to queue, with which value, on which session. */
export interface CampaignSettings {
  prefix: string;
  value: string;
  session: Session | undefined;
  ttl: number | undefined;
}

/** How a candidacy ended. `failed` is reported to the subscriber; the others are voluntary. */
type Outcome = { kind: 'failed'; error: unknown } | { kind: 'resigned' } | { kind: 'withdrawn' };

/**
 * One subscription to `election.campaign()`: puts a candidate key, waits for the key right
 * before it to go, confirms it is first, then holds the leadership until it is lost, resigned
 * or unsubscribed. Every step after the key exists is guarded by the key's create revision.
 */
export class Candidacy implements Closable {
  private readonly abort = new AbortController();
  private outcome: Outcome | undefined;
  private session: Session | undefined;
  private key: string | undefined;
  private term: bigint | undefined;
  /** Set once etcd showed the key gone, so cleanup does not try to delete it. */
  private keyGone = false;
  private leadership: Leadership | undefined;
  private ownKeyWatch: Subscription | undefined;
  private untrack: (() => void) | undefined;
  private readonly done: Promise<void>;

  constructor(
    private readonly runtime: Runtime,
    private readonly settings: CampaignSettings,
    private readonly subscriber: Subscriber<Leadership>,
  ) {
    this.done = this.run();
  }

  /** The subscriber left: withdraw the candidacy or resign the leadership, in the background. */
  withdraw(): void {
    this.end({ kind: 'withdrawn' });
  }

  /** `concord.close()`: resign (or withdraw) and complete the subscriber once the key is gone. */
  close(): Promise<void> {
    this.end({ kind: 'resigned' });
    return this.done;
  }

  private async run(): Promise<void> {
    let owned = false;
    const onSessionEnd = () => this.sessionEnded();
    try {
      const held = await sessionFor(
        this.runtime,
        { session: this.settings.session, ttl: this.settings.ttl },
        'election.campaign',
      );
      this.session = held.session;
      owned = held.owned;
      if (this.outcome) return;
      this.untrack = this.runtime.track(this);
      held.session.signal.addEventListener('abort', onSessionEnd, { once: true });
      if (held.session.signal.aborted) this.sessionEnded();
      await this.enqueue(held.session);
      const revision = await this.waitForTurn();
      // The key existed at `revision`, but a process that was paused may already be past its
      // session's local deadline: then the lease may expire any moment, so do not claim to lead.
      if (held.session.isLost) return;
      this.lead(held.session, revision);
      // Hold the leadership until it is lost, resigned or unsubscribed.
      await new Promise((resolve) => {
        if (this.abort.signal.aborted) resolve(undefined);
        else this.abort.signal.addEventListener('abort', resolve, { once: true });
      });
    } catch (err) {
      if (!this.abort.signal.aborted) this.end({ kind: 'failed', error: toConcordError(err, 'campaign') });
    } finally {
      await this.cleanup(owned, onSessionEnd);
    }
  }

  /** Puts this campaign's key on the session's lease; its create revision becomes the term. */
  private async enqueue(session: Session): Promise<void> {
    for (;;) {
      const key = candidateKey(this.settings.prefix, session.leaseId);
      const value = checkValue(this.runtime.keys.key(key), this.settings.value);
      // Known before the put is sent, so a withdrawal racing the put can still delete the key.
      this.key = key;
      // Undefined only if another campaign drew the same random suffix: draw again.
      this.term = await this.retrying(() => createOwnKey(this.runtime, key, value, session.leaseId));
      if (this.term !== undefined) return;
    }
  }

  /**
   * Waits until no key of the election is older than ours, watching only the one right before
   * ours. Each check also proves our key still exists with our term, atomically: a candidate
   * whose key expired while it waited must never believe it won. Resolves with the revision at
   * which the winning check ran.
   */
  private async waitForTurn(): Promise<bigint> {
    const own = { key: this.key!, createRevision: this.term! };
    for (;;) {
      const ahead = await this.retrying(() => keysAhead(this.runtime, own, this.settings.prefix, 1));
      this.abort.signal.throwIfAborted();
      if (ahead.lost) {
        this.keyGone = true;
        throw new LeadershipLostError(
          `campaign: the candidate key ${this.key} was deleted before it was elected (its session expired or it was removed)`,
        );
      }
      const predecessor = ahead.entries[0];
      if (!predecessor) return ahead.revision;
      await waitDeleted(this.runtime, predecessor.key, ahead.revision, this.abort.signal);
    }
  }

  /** Elected: watch our own key (a deletion by anyone ends the leadership) and hand out the Leadership. */
  private lead(session: Session, revision: bigint): void {
    const key = this.key!;
    const term = this.term!;
    this.ownKeyWatch = hubOf(this.runtime)
      .watch({ key }, { fromRevision: revision + 1n })
      .subscribe({
        next: (batch) => {
          if (keyReplaced(batch, key, term)) {
            this.keyGone = true;
            this.end({
              kind: 'failed',
              error: new LeadershipLostError(`leadership lost: the key ${key} was deleted`),
            });
          }
        },
        error: (err: unknown) =>
          this.end({
            kind: 'failed',
            error: new LeadershipLostError('leadership lost: its key can no longer be watched', {
              cause: err,
            }),
          }),
      });
    if (this.outcome) return;
    this.leadership = new Leadership(key, this.settings.value, term, {
      // Reading isLost checks the local deadline; a passed one ends the session, and so this leadership.
      check: () => void session.isLost,
      proclaim: (value) => this.proclaim(session, value),
      resign: () => this.resign(),
      txn: (ops) => this.txn(ops),
    });
    this.subscriber.next(this.leadership);
  }

  private async proclaim(session: Session, value: string): Promise<void> {
    const etcdKey = this.runtime.keys.key(this.key!);
    const bytes = checkValue(etcdKey, value);
    this.assertLeading('proclaim');
    let res: { succeeded: boolean };
    try {
      // Retried after a lost answer, unlike txn(): putting the same value under the same term
      // twice is harmless, and a retry that finds the term gone reports a real loss.
      res = await this.runtime.etcd.kv.txn({
        compare: [this.termGuard()],
        success: [{ request_put: { key: etcdKey, value: bytes, lease: session.leaseId } }],
        failure: [],
      });
    } catch (err) {
      throw toConcordError(err, 'proclaim');
    }
    if (!res.succeeded) throw this.lostOnServer('proclaim');
    this.leadership?.setValue(value);
  }

  private async resign(): Promise<void> {
    this.end({ kind: 'resigned' });
    await this.done;
  }

  private async txn(ops: unknown): Promise<boolean> {
    // Validates before anything else, so bad input is reported even after a loss.
    toRequestOps(this.runtime, ops);
    if (!this.leadership?.isLeader) return false;
    let committed: boolean;
    try {
      committed = await guardedTxn(this.runtime, this.key!, this.term!, ops);
    } catch (err) {
      throw toConcordError(err, 'leadership.txn');
    }
    if (!committed) this.lostOnServer('txn');
    return committed;
  }

  private assertLeading(what: string): void {
    if (this.leadership?.isLeader && !this.outcome) return;
    throw new LeadershipLostError(`${what}: this leadership has ended`);
  }

  /** A guarded write failed its compare: our key is gone or was re-created, so we are not leader. */
  private lostOnServer(what: string): LeadershipLostError {
    const error = new LeadershipLostError(
      `${what}: the leadership key ${this.key} no longer has term ${this.term}`,
    );
    this.keyGone = true;
    this.end({ kind: 'failed', error });
    return error;
  }

  private termGuard(): ICompare {
    return ownKeyCompare(this.runtime, this.key!, this.term!);
  }

  /** The session's signal aborted: it was lost (or closed by its owner). Either way we lead no more. */
  private sessionEnded(): void {
    const reason: unknown = this.session?.signal.reason;
    const cause = reason instanceof ConcordError ? ` (${reason.message})` : '';
    this.end({
      kind: 'failed',
      error: new LeadershipLostError(
        this.leadership
          ? `leadership lost: its session ended${cause}`
          : `campaign: its session ended before it was elected${cause}`,
        { cause: reason },
      ),
    });
  }

  /**
   * Records how the candidacy ends, exactly once. A loss reaches the leadership and the subscriber
   * synchronously, before anything else runs, so a leader stops acting as soon as concord knows.
   */
  private end(outcome: Outcome): void {
    if (this.outcome) return;
    this.outcome = outcome;
    const error = outcome.kind === 'failed' ? outcome.error : undefined;
    this.leadership?.end(
      outcome.kind !== 'failed'
        ? undefined
        : error instanceof LeadershipLostError
          ? error
          : new LeadershipLostError('leadership lost', { cause: error }),
    );
    this.abort.abort(error ?? new ClosedError('the campaign ended'));
    if (outcome.kind === 'failed') this.subscriber.error(error);
  }

  /** Deletes our key (unless it is known gone or unreachable), closes an owned session, completes. */
  private async cleanup(owned: boolean, onSessionEnd: () => void): Promise<void> {
    this.ownKeyWatch?.unsubscribe();
    const session = this.session;
    session?.signal.removeEventListener('abort', onSessionEnd);
    if (session && this.key !== undefined && !this.keyGone && !session.signal.aborted) {
      try {
        await this.runtime.etcd.kv.txn({
          // Unknown term (the put's answer never came): the lease still proves the key is ours.
          compare: [
            this.term === undefined
              ? leaseCompare(this.runtime, this.key, session.leaseId)
              : this.termGuard(),
          ],
          success: [{ request_delete_range: { key: this.runtime.keys.key(this.key) } }],
          failure: [],
        });
      } catch (err) {
        this.runtime.log.warn('could not delete a candidate key; it goes when its lease expires', {
          key: this.key,
          error: errorText(err),
        });
      }
    }
    if (owned && session) {
      await session.close().catch((err: unknown) =>
        this.runtime.log.warn('closing a campaign session failed', {
          error: errorText(err),
        }),
      );
    }
    this.untrack?.();
    if (this.outcome?.kind === 'resigned') this.subscriber.complete();
  }

  /** Runs `call`, retrying transient failures (etcd unreachable) with backoff until the campaign ends. */
  private retrying<T>(call: () => Promise<T>): Promise<T> {
    return retryTransient(this.runtime, 'campaign', this.abort.signal, call);
  }
}
