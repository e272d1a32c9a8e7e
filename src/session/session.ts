import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { AsyncSubject, BehaviorSubject, map, Observable } from 'rxjs';
import { afterDispatch } from '../core/dispatch.js';
import { errorText } from '../core/error-text.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkTtl } from '../core/validate.js';
import { ClosedError, InvalidArgumentError, SessionLostError } from '../errors.js';
import { revokeLease } from '../etcd/lease-revoke.js';
import { toConcordError } from '../etcd/translate.js';
import { type BudgetEvent, checkMargin, expiringAlarm } from './budget.js';
import { LeaseDeadline } from './deadline.js';
import { keepAliveOf, type LeaseListener } from './keepalive.js';
import { countOpen } from './open-sessions.js';
import type { SessionOptions, SessionState } from './types.js';

/** The default lease TTL of sessions, in seconds. */
export const DEFAULT_TTL = 10;

// Set by Session's static block: what this module's functions may do that users may not.
let construct: (runtime: Runtime, leaseId: string, ttl: number, grantSentAt: number) => Session;
let markGone: (session: Session) => void;
let handOff: (session: Session) => Promise<void>;

/**
 * A lease kept alive over the Concord's one keepalive stream. Everything written with the
 * session's lease (lock keys, leader keys, registrations) disappears when it ends.
 *
 * Local deadline: each answered keepalive moves it to when that keepalive was SENT plus the TTL
 * etcd granted. etcd counts from when it received the request, later, so the session is `lost`
 * (`isAlive` false, `timeLeft()` 0: both read the clock, and so do concord's own checks, also
 * right after a process pause) before etcd can expire the lease and hand its keys on. `lost$`
 * hears of a deadline loss by a timer, which a busy event loop may run after etcd expired the
 * lease: stop your own work on `expiring$(marginMs)`, a margin wider than the loop's stalls.
 *
 * `lost$` emits once (at once for late subscribers) when the lease is gone or must be assumed
 * gone; on a loss concord also revokes the lease, best effort, so its keys go away without
 * waiting for etcd's expiry. `close()` revokes the lease and completes `lost$` without emitting.
 */
export class Session implements AsyncDisposable {
  /** The lease id, decimal, as etcd reports it. */
  readonly leaseId: string;
  /** The TTL etcd granted, in seconds. */
  readonly ttl: number;
  /**
   * State: the current value first, then every change of `status`; completes after `lost` or
   * `closed`. A keepalive that only moves the deadline emits nothing: `expiresAt` in a state is
   * the deadline when that status began; read the moving one from {@link expiresAt}.
   */
  readonly state$: Observable<SessionState>;
  /** Emits once when the lease is (or must be assumed) gone, then completes; completes without emitting on `close()`. */
  readonly lost$: Observable<void>;

  readonly #runtime: Runtime;
  readonly #state: BehaviorSubject<SessionState>;
  readonly #lostSubject = new AsyncSubject<void>();
  readonly #abort = new AbortController();
  readonly #untrack: () => void;
  readonly #uncount: () => void;
  /** Local deadline (performance.now() ms): the lease is known to exist until then. */
  readonly #deadline: LeaseDeadline;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #expiringTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  /** Round trip of the last answered keepalive (ms), for `session.state` events. */
  #rttMs: number | undefined;

  static {
    construct = (runtime, leaseId, ttl, grantSentAt) => new Session(runtime, leaseId, ttl, grantSentAt);
    markGone = (session) => session.#markLost('etcd no longer has the lease', 'lease-gone');
    handOff = (session) => {
      session.#closing ??= session.#closeOnce(true);
      return session.#closing;
    };
  }

  private constructor(runtime: Runtime, leaseId: string, ttl: number, grantSentAt: number) {
    // Every wait and hold on the session listens to it: many at once is normal, not a leak.
    setMaxListeners(0, this.#abort.signal);
    this.#runtime = runtime;
    this.leaseId = leaseId;
    this.ttl = ttl;
    this.#deadline = new LeaseDeadline(grantSentAt, ttl * 1000);
    this.#state = new BehaviorSubject<SessionState>({ status: 'alive', expiresAt: this.expiresAt });
    this.state$ = new Observable<SessionState>((subscriber) => {
      const current = this.#state.value;
      if (current.status === 'lost' || current.status === 'closed') {
        subscriber.next(current);
        subscriber.complete();
        return undefined;
      }
      return this.#state.subscribe(subscriber);
    });
    this.lost$ = this.#lostSubject.asObservable();
    this.#untrack = runtime.track(this);
    this.#uncount = countOpen(runtime, this);
    this.#announce(this.#state.value);
    const listener: LeaseListener = {
      renewed: (sentAt, granted) => this.#onRenewed(sentAt, granted),
      gone: () => this.#markLost('etcd reports the lease expired or revoked', 'lease-gone'),
      interrupted: () => this.#onInterrupted(),
    };
    keepAliveOf(runtime).add(leaseId, ttl, listener);
    this.#armTimers();
  }

  /** @internal Aborted with a {@link SessionLostError} when the session is lost, or a {@link ClosedError} when closed. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** @internal True once the session is lost; checks the local deadline first, so it is exact even right after a process pause. */
  get isLost(): boolean {
    this.#checkDeadline();
    return this.#state.value.status === 'lost';
  }

  /** True while the lease is known to exist (neither lost, closed, nor past its local deadline). */
  get isAlive(): boolean {
    this.#checkDeadline();
    const { status } = this.#state.value;
    return status === 'alive' || status === 'expiring';
  }

  /** The local deadline as epoch milliseconds. */
  get expiresAt(): number {
    return Date.now() + (this.#deadline.at - performance.now());
  }

  /**
   * Milliseconds until the local deadline: how long the lease is known to exist without another
   * renewing ack. 0 once the session is lost or closed. On a healthy session it moves between
   * about two thirds of the TTL and the TTL (keepalives go out every third of it).
   */
  timeLeft(): number {
    return this.isAlive ? this.#deadline.timeLeft() : 0;
  }

  /**
   * Emits once, then completes, as soon as no more than `marginMs` milliseconds are left before
   * the local deadline without a renewing ack, or when the session is lost, whichever comes first;
   * never later than `lost$`. Completes without emitting when the session is closed. A late
   * subscriber gets the emission at once when the budget is already under the margin or lost.
   * Made for `takeUntil(session.expiring$(m))`: stop work while `m` ms are still left to stop it.
   * Throws {@link InvalidArgumentError} unless `marginMs` is an integer >= 0. With a healthy session
   * it does not fire for any margin below about two thirds of the TTL minus a round trip.
   */
  expiring$(marginMs: number): Observable<void> {
    checkMargin('marginMs', marginMs);
    const events$ = this.state$.pipe(
      map((s): BudgetEvent => (s.status === 'lost' ? 'lost' : s.status === 'closed' ? 'ended' : 'renewed')),
    );
    return expiringAlarm(marginMs, () => this.timeLeft(), events$);
  }

  /**
   * Stops the keepalives and revokes the lease (its keys are deleted). Idempotent; never throws
   * for an unreachable etcd (the lease then expires by itself). Resolves once etcd has revoked the
   * lease, or at the latest when the local deadline passes: past it the lease cannot be counted
   * on anyway, so a revoke stuck in a partition does not hold up whoever waits for the close.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeOnce(false);
    return this.#closing;
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * `quietly` (a session made for one entry whose hold is being released; nothing else listens):
   * the revoke is made first, the closed state (state change, event, signal abort) follows once
   * it has been written, so a successor waits for that write, not for this bookkeeping.
   */
  async #closeOnce(quietly: boolean): Promise<void> {
    const wasLost = this.isLost;
    // A session that is still alive keeps the keepalive stream open until its revoke is out.
    this.#stop(!wasLost);
    if (wasLost) return;
    if (!quietly) this.#markClosed();
    // A hold on this session cancelled its own-key watch just before, on the same connection:
    // etcd sees that cancel first and does not send the holder its own delete.
    const revoked = revokeLease(this.#runtime.etcd, this.leaseId).then(
      () => undefined,
      (err: unknown) => {
        this.#runtime.log.warn('revoking a session lease failed; it expires by itself', {
          leaseId: this.leaseId,
          error: errorText(err),
        });
      },
    );
    // The revoke goes out before the keepalive stream (often last used by this session) is
    // closed: whoever waits for this lease's keys to go would otherwise wait for that too.
    await afterDispatch();
    if (quietly && !this.#terminal) this.#markClosed(); // (unless lost meanwhile: it stays lost)
    keepAliveOf(this.#runtime).stopIfIdle();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#deadline.timeLeft());
    });
    await Promise.race([revoked, deadline]);
    clearTimeout(timer);
  }

  /** The session's end by close(): the `closed` state, completed streams, the aborted signal. */
  #markClosed(): void {
    this.#setState({ status: 'closed' });
    this.#state.complete();
    this.#lostSubject.complete();
    this.#abort.abort(new ClosedError(`session ${this.leaseId} is closed`));
  }

  /** Stops the timers and the keepalives; `keepStream` leaves closing an idle stream to the caller. */
  #stop(keepStream = false): void {
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#expiringTimer);
    this.#deadlineTimer = undefined;
    this.#expiringTimer = undefined;
    const keepAlive = keepAliveOf(this.#runtime);
    if (keepStream) keepAlive.forget(this.leaseId);
    else keepAlive.remove(this.leaseId);
    this.#uncount();
    this.#untrack();
  }

  /** The one place the status changes: `state$`, and a `session.state` event. */
  #setState(state: SessionState, reason?: 'lease-gone' | 'deadline'): void {
    this.#state.next(state);
    this.#announce(state, reason);
  }

  #announce(state: SessionState, reason?: 'lease-gone' | 'deadline'): void {
    const { events } = this.#runtime;
    if (!events.observed) return;
    const terminal = state.status === 'lost' || state.status === 'closed';
    events.emit({
      type: 'session.state',
      leaseId: this.leaseId,
      ttl: this.ttl,
      status: state.status,
      timeLeftMs: terminal ? 0 : Math.round(this.#deadline.timeLeft()),
      ...(this.#rttMs === undefined ? {} : { rttMs: this.#rttMs }),
      ...(reason === undefined ? {} : { reason }),
    });
  }

  get #terminal(): boolean {
    const { status } = this.#state.value;
    return status === 'lost' || status === 'closed';
  }

  #onRenewed(sentAt: number, granted: number): void {
    if (this.#terminal) return;
    // A deadline already passed stays passed (see LeaseDeadline): the session is lost.
    if (!this.#deadline.renew(sentAt, granted)) {
      this.#checkDeadline();
      return;
    }
    this.#rttMs = Math.round((performance.now() - sentAt) * 1000) / 1000;
    const { events } = this.#runtime;
    if (events.observed) {
      const timeLeftMs = Math.round(this.#deadline.timeLeft());
      events.emit({ type: 'session.keepalive', leaseId: this.leaseId, rttMs: this.#rttMs, timeLeftMs });
    }
    // Status changes only: a renewal that merely moves the deadline is read with expiresAt.
    if (this.#state.value.status !== 'alive') this.#setState({ status: 'alive', expiresAt: this.expiresAt });
    this.#armTimers();
  }

  #onInterrupted(): void {
    if (this.#terminal || this.#checkDeadline()) return;
    this.#deadline.interrupt();
    if (this.#state.value.status !== 'expiring')
      this.#setState({ status: 'expiring', expiresAt: this.expiresAt });
  }

  /** Timers for the deadline and for `expiring` (a renewal overdue: less than half the TTL left). */
  #armTimers(): void {
    clearTimeout(this.#deadlineTimer);
    clearTimeout(this.#expiringTimer);
    this.#deadlineTimer = setTimeout(() => this.#checkDeadline(), this.#deadline.timeLeft() + 1);
    this.#expiringTimer = setTimeout(() => {
      if (!this.#terminal && this.#state.value.status === 'alive') {
        this.#setState({ status: 'expiring', expiresAt: this.expiresAt });
      }
    }, this.#deadline.untilExpiring());
    if (this.#deadline.interrupted && this.#state.value.status === 'alive') {
      this.#setState({ status: 'expiring', expiresAt: this.expiresAt });
    }
  }

  /** Declares the session lost if its deadline passed; returns whether it is lost. */
  #checkDeadline(): boolean {
    const { status } = this.#state.value;
    if (status === 'lost' || status === 'closed') return status === 'lost';
    if (!this.#deadline.passed) return false;
    this.#markLost('no keepalive answered within the TTL (local deadline passed)', 'deadline');
    return true;
  }

  #markLost(why: string, cause: 'lease-gone' | 'deadline'): void {
    if (this.#terminal) return;
    const reason = new SessionLostError(`session ${this.leaseId} lost: ${why}`);
    this.#stop();
    this.#runtime.log.warn('session lost', { leaseId: this.leaseId, reason: why });
    this.#setState({ status: 'lost', reason }, cause);
    this.#state.complete();
    this.#abort.abort(reason);
    this.#lostSubject.next();
    this.#lostSubject.complete();
    // Best effort: if etcd still has the lease, revoking it frees its keys now rather than at expiry.
    revokeLease(this.#runtime.etcd, this.leaseId).catch(() => undefined);
  }
}

/**
 * @internal Grants a lease (`options.ttl` seconds, default 10) and starts keeping it alive: what
 * `concord.session()` does. The returned session is closed by `concord.close()` if not before.
 * Throws {@link InvalidArgumentError} for a bad TTL before anything is sent.
 */
export async function createSession(runtime: Runtime, options: SessionOptions = {}): Promise<Session> {
  checkOptions('options', options, ['ttl']);
  checkTtl('options.ttl', options?.ttl);
  runtime.assertOpen('session');
  const ttl = options?.ttl ?? DEFAULT_TTL;
  const sentAt = performance.now();
  let granted: { ID: string; TTL: string };
  try {
    granted = await runtime.etcd.leaseClient.leaseGrant({ TTL: ttl });
  } catch (err) {
    throw toConcordError(err, 'session: granting a lease');
  }
  if (runtime.closed) {
    await revokeLease(runtime.etcd, String(granted.ID)).catch(() => undefined);
    throw new ClosedError('session: the Concord is closed');
  }
  return construct(runtime, String(granted.ID), Number(granted.TTL), sentAt);
}

/** @internal etcd answered that the session's lease no longer exists (revoked or expired): the session is lost now. */
export function leaseGone(session: Session): void {
  markGone(session);
}

/** @internal {@link Session.close} for a session made for one entry whose hold is being released: see `#closeOnce`. */
export function closeForHandOff(session: Session): Promise<void> {
  return handOff(session);
}
