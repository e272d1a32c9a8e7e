import { performance } from 'node:perf_hooks';
import { firstValueFrom, isObservable, type Observable, type Subscription } from 'rxjs';
import { errorText } from '../core/error-text.js';
import type { EventInput } from '../core/events.js';
import type { Closable, Runtime } from '../core/runtime.js';
import { afterAtLeast } from '../core/timer.js';
import { DrainError, DrainTimeoutError } from '../errors.js';
import type { WorkStopCause, WorkSubject } from '../events/types.js';
import type { HoldSubject } from './terms.js';

/**
 * Work run while a lock is held or a leadership lasts: `signal` aborts when it must stop. An
 * async function is done when its promise settles; an Observable is done when it completes or
 * errors (unsubscribing it is the last resort, once the key has been given up).
 */
export type ScopedWork<H, T> = (handle: H, signal: AbortSignal) => Promise<T> | Observable<T>;

/** What a term needs of the held thing (a `LockHandle`, a `Leadership`). */
export interface ScopedHold {
  readonly key: string;
  /** Aborted when the hold ends; its reason is the loss error after a loss. */
  readonly signal: AbortSignal;
  /** Emits the loss error once the hold is lost; completes once it has ended. */
  readonly lost$: Observable<unknown>;
  timeLeft(): number;
  expiring$(marginMs: number): Observable<void>;
}

/** How one kind of hold is given up and how its losses read. */
export interface TermRules<H extends ScopedHold> {
  /** Names the primitive in errors and logs: `mutex "jobs"`, `election "leader"`. */
  readonly what: string;
  /** Names the primitive in `concord.events$`. */
  readonly subject: HoldSubject;
  release(held: H): Promise<void>;
  /** The primitive's loss error (`LockLostError`, `LeadershipLostError`). */
  lost(message: string): Error;
  /** Fewer than this many ms of lease budget left: stop the work (see `expiring$`). */
  readonly marginMs: number;
  /** How long stopped work may take to return before the key is given up anyway. */
  readonly drainTimeoutMs: number;
}

/** How one term ended (the key has been given up, and the work has returned or overrun). */
export type TermEnd =
  | { readonly kind: 'done' }
  | { readonly kind: 'failed'; readonly error: unknown }
  | { readonly kind: 'lost'; readonly error: Error }
  | { readonly kind: 'drained' }
  | { readonly kind: 'closing' };

type Stop = { kind: 'lost' | 'drained' | 'closing'; reason: Error; cause: WorkStopCause };
type WorkEnd = { ok: true } | { ok: false; error: unknown };

/** A `work.*` event without the fields every one of them shares (see `#emit`). */
type DistributiveWorkEvent = EventInput extends infer E
  ? E extends { type: `work.${string}` }
    ? Omit<E, keyof WorkSubject>
    : never
  : never;

/**
 * One term of scoped work: from the moment the hold is granted until its key has been given up.
 *
 * The work runs until it returns by itself, or until it is stopped: on loss (fewer than
 * `marginMs` of lease budget left, or the hold lost) its signal aborts with the loss error; on a
 * drain (unsubscribe, the Concord closing) with a {@link DrainError}. A stopped term gives the key
 * up only once the work has returned, or `drainTimeoutMs` after the stop, or once the lease is
 * gone anyway (a drain also ends when the budget runs under the margin: the key cannot be kept
 * past the lease). Giving the key up while the work still runs is reported as an overrun.
 *
 * Tracked by the runtime, so `concord.close()` drains the work before the hold is released.
 */
export class WorkTerm<H extends ScopedHold, T> implements Closable {
  /** Settles once the key has been given up and the work has returned or overrun its drain. */
  readonly ended: Promise<TermEnd>;

  readonly #runtime: Runtime;
  readonly #rules: TermRules<H>;
  readonly #held: H;
  readonly #abort = new AbortController();
  readonly #workEnded: Promise<WorkEnd>;
  readonly #stopped: Promise<Stop>;
  readonly #budgetLow: Promise<void>;
  readonly #untrack: () => void;
  #settleWork!: (end: WorkEnd) => void;
  #requestStop!: (stop: Stop) => void;
  #onBudgetLow!: () => void;
  #stopRequested = false;
  #work: Subscription | undefined;
  #budget: Subscription | undefined;

  constructor(
    runtime: Runtime,
    rules: TermRules<H>,
    held: H,
    work: ScopedWork<H, T>,
    emit: (value: T) => void,
  ) {
    this.#runtime = runtime;
    this.#rules = rules;
    this.#held = held;
    this.#workEnded = new Promise((resolve) => (this.#settleWork = resolve));
    this.#stopped = new Promise((resolve) => (this.#requestStop = resolve));
    this.#budgetLow = new Promise((resolve) => (this.#onBudgetLow = resolve));
    this.#untrack = runtime.track(this);
    // Before the work starts: a hold already under the margin hands it an aborted signal.
    this.#budget = held.expiring$(rules.marginMs).subscribe(() => this.#budgetRanLow());
    this.#start(work, emit);
    this.ended = this.#run();
  }

  /** Asks the work to stop on purpose; resolves once the term has ended. */
  drain(kind: 'drained' | 'closing', why: string): Promise<TermEnd> {
    const reason = new DrainError(`${this.#rules.what}: ${this.#held.key}: ${why}`);
    this.#stop({ kind, reason, cause: kind === 'closing' ? 'closing' : 'unsubscribed' });
    return this.ended;
  }

  /** The Concord is closing: drain the work, then give the key up (the hold itself closes after this). */
  async close(): Promise<void> {
    await this.drain('closing', 'the Concord is closing');
  }

  #start(work: ScopedWork<H, T>, emit: (value: T) => void): void {
    const fail = (error: unknown) => this.#settleWork({ ok: false, error });
    let result: Promise<T> | Observable<T>;
    try {
      result = work(this.#held, this.#abort.signal);
    } catch (error) {
      fail(error);
      return;
    }
    if (isObservable(result)) {
      this.#work = result.subscribe({
        next: emit,
        error: fail,
        complete: () => this.#settleWork({ ok: true }),
      });
      return;
    }
    Promise.resolve(result).then((value) => {
      emit(value);
      this.#settleWork({ ok: true });
    }, fail);
  }

  /** Aborts the work's signal now (synchronously: a loss reaches the work before `lost$` emits). */
  #stop(stop: Stop): void {
    if (this.#stopRequested) return;
    this.#stopRequested = true;
    this.#abort.abort(stop.reason);
    this.#emit({ type: 'work.stopping', cause: stop.cause });
    this.#requestStop(stop);
  }

  /** Emits a `work.*` event about this term's hold (see {@link WorkSubject}). */
  #emit(event: DistributiveWorkEvent): void {
    const { events } = this.#runtime;
    if (!events.observed) return;
    const { subject } = this.#rules;
    const primitive = subject.kind === 'election' ? 'election' : subject.primitive;
    const about: WorkSubject = { primitive, name: subject.name, key: this.#held.key };
    if (subject.kind === 'lock' && subject.mode !== undefined) about.mode = subject.mode;
    events.emit({ ...about, ...event } as EventInput);
  }

  #budgetRanLow(): void {
    this.#onBudgetLow();
    const held = this.#held;
    // A hold that has already ended by a loss says why; otherwise the budget ran low first.
    if (held.signal.aborted) {
      this.#stop({ kind: 'lost', reason: held.signal.reason as Error, cause: 'lost' });
      return;
    }
    const { marginMs } = this.#rules;
    const timeLeftMs = held.timeLeft();
    const reason = this.#rules.lost(
      `${this.#rules.what}: ${held.key}: ${timeLeftMs.toFixed(0)} ms of lease budget left ` +
        `(margin ${marginMs} ms): stopping the work before etcd can expire the lease`,
    );
    this.#emit({ type: 'work.budget-low', timeLeftMs: Math.round(timeLeftMs), marginMs });
    this.#stop({ kind: 'lost', reason, cause: 'budget-low' });
  }

  async #run(): Promise<TermEnd> {
    const first = await Promise.race([this.#workEnded, this.#stopped]);
    if ('ok' in first) {
      // The work returned while still holding: nothing to wait for.
      await this.#giveUp();
      return first.ok ? { kind: 'done' } : { kind: 'failed', error: first.error };
    }
    const stoppedAt = performance.now();
    const timeout = new Promise<'timeout'>((resolve) => {
      const cancel = afterAtLeast(this.#rules.drainTimeoutMs, () => resolve('timeout'));
      void this.#workEnded.then(cancel);
    });
    const waits: Array<Promise<string>> = [
      this.#workEnded.then(() => 'returned'),
      timeout,
      firstValueFrom(this.#held.lost$, { defaultValue: undefined }).then(() => 'the lease is gone'),
    ];
    // A drain cannot keep the key past the lease either; a loss has already passed this point.
    if (first.kind !== 'lost') waits.push(this.#budgetLow.then(() => 'the lease is running low'));
    const released = await Promise.race(waits);
    if (released !== 'returned')
      this.#overran(released === 'timeout' ? 'drainTimeoutMs passed' : released, stoppedAt);
    await this.#giveUp();
    // The key is gone; still let the work return before the term ends (and anything starts anew).
    await Promise.race([this.#workEnded, timeout]);
    this.#work?.unsubscribe();
    return first.kind === 'lost' ? { kind: 'lost', error: first.reason } : { kind: first.kind };
  }

  async #giveUp(): Promise<void> {
    this.#budget?.unsubscribe();
    try {
      await this.#rules.release(this.#held);
    } catch (err) {
      this.#runtime.log.warn(`${this.#rules.what}: giving up the key failed; it goes with its lease`, {
        key: this.#held.key,
        error: errorText(err),
      });
    } finally {
      this.#untrack();
    }
  }

  /**
   * The key is given up while the work still runs: the one place an overrun is reported. The
   * Concord's logger gets a warning carrying a {@link DrainTimeoutError}, `concord.events$` a
   * `work.drain-timeout` event.
   */
  #overran(why: string, stoppedAt: number): void {
    const waitedMs = Math.round(performance.now() - stoppedAt);
    const error = new DrainTimeoutError(
      `${this.#rules.what}: ${this.#held.key}: the work had not returned ${waitedMs} ms after it was asked ` +
        `to stop, and ${why}: giving the key up while it still runs`,
      { key: this.#held.key, waitedMs },
    );
    this.#runtime.log.warn(error.message, { key: error.key, waitedMs, code: error.code });
    this.#emit({ type: 'work.drain-timeout', waitedMs, why });
  }
}
