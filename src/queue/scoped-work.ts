import { Observable, type Subscriber } from 'rxjs';
import { sleep } from '../core/abort.js';
import type { Runtime } from '../core/runtime.js';
import { checkInteger, checkOptions } from '../core/validate.js';
import { ClosedError, InvalidArgumentError, isConcordError } from '../errors.js';
import { type ScopedHold, type ScopedWork, type TermRules, WorkTerm } from './work-term.js';

/** Default `drainTimeoutMs`: how long stopped work may take to return before its key is given up anyway. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** The largest default `marginMs`; shorter TTLs get a third of the TTL. */
export const MAX_DEFAULT_MARGIN_MS = 2_000;

/** The options `whileHeld` / `whileLeader` take, checked. */
export interface ScopeSettings {
  readonly marginMs: number;
  readonly drainTimeoutMs: number;
  readonly requeue: boolean;
}

/**
 * The default `marginMs` for a lease of `ttlSeconds`: a third of the TTL, at most 2 s. A healthy
 * session's budget dips to about two thirds of the TTL (minus a round trip) right before each
 * keepalive answer, so a third leaves the other third for event-loop and network delays before a
 * false alarm; 2 s is room enough for a work step to notice its signal and stop, and longer TTLs
 * gain nothing from stopping earlier.
 */
export function defaultMargin(ttlSeconds: number): number {
  return Math.min(Math.floor((ttlSeconds * 1000) / 3), MAX_DEFAULT_MARGIN_MS);
}

/**
 * Checks `work` and the options of `whileHeld` / `whileLeader` (`requeue` only when `allowed`
 * names it) for a lease of `ttlSeconds`, throwing {@link InvalidArgumentError} before anything
 * is written.
 */
export function scopeSettings(
  work: unknown,
  options: unknown,
  ttlSeconds: number,
  allowed: readonly string[],
): ScopeSettings {
  if (typeof work !== 'function') {
    throw new InvalidArgumentError('work', 'must be a function returning a Promise or an Observable', work);
  }
  checkOptions('options', options, allowed);
  const { marginMs, drainTimeoutMs, requeue } = (options ?? {}) as Partial<ScopeSettings>;
  checkInteger('options.drainTimeoutMs', drainTimeoutMs, 0, 2 ** 31 - 1);
  const halfTtl = (ttlSeconds * 1000) / 2;
  checkInteger('options.marginMs', marginMs, 0);
  if (marginMs !== undefined && marginMs > halfTtl) {
    throw new InvalidArgumentError(
      'options.marginMs',
      `must be at most half the lease TTL (${halfTtl} ms): a healthy session's budget dips to about two thirds of the TTL between keepalives`,
      marginMs,
    );
  }
  if (requeue !== undefined && typeof requeue !== 'boolean') {
    throw new InvalidArgumentError('options.requeue', 'must be a boolean', requeue);
  }
  return {
    marginMs: marginMs ?? defaultMargin(ttlSeconds),
    drainTimeoutMs: drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
    requeue: requeue ?? false,
  };
}

/** How one primitive is acquired and given up, for {@link whileHolding}. */
export interface HoldingRules<H extends ScopedHold>
  extends Omit<TermRules<H>, 'marginMs' | 'drainTimeoutMs'> {
  /** Waits for the hold; rejects with the signal's reason once it aborts. */
  acquire(signal: AbortSignal): Promise<H>;
}

/**
 * Runs `work` each time the hold is granted, for as long as the subscription lasts: the shared
 * machinery of `whileHeld` and `whileLeader`. Emits what the work yields. Each term ends as
 * {@link WorkTerm} describes; then:
 * - the work returned by itself: complete (with `requeue`: acquire again);
 * - the work failed: error with its error;
 * - a loss: error with the loss error (with `requeue`: acquire again);
 * - the Concord closed: complete.
 * While acquiring, unsubscribing cancels the wait; with `requeue`, a loss while waiting and an
 * unreachable etcd (with the Concord's reconnect backoff) mean trying again.
 */
export function whileHolding<H extends ScopedHold, T>(
  runtime: Runtime,
  rules: HoldingRules<H>,
  work: ScopedWork<H, T>,
  settings: ScopeSettings,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    const scope = new Scope(runtime, { ...rules, ...settings }, work, settings.requeue, subscriber);
    void scope.run();
    return () => scope.unsubscribed();
  });
}

class Scope<H extends ScopedHold, T> {
  readonly #stop = new AbortController();
  #term: WorkTerm<H, T> | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly rules: HoldingRules<H> & TermRules<H>,
    private readonly work: ScopedWork<H, T>,
    private readonly requeue: boolean,
    private readonly subscriber: Subscriber<T>,
  ) {}

  async run(): Promise<void> {
    const { subscriber } = this;
    for (;;) {
      const held = await this.#acquire();
      if (held === undefined) return;
      if (subscriber.closed) {
        // Granted after the subscription ended: nothing runs, the key goes at once.
        await this.rules.release(held).catch(() => undefined);
        return;
      }
      this.#term = new WorkTerm(this.runtime, this.rules, held, this.work, (value) => subscriber.next(value));
      const end = await this.#term.ended;
      this.#term = undefined;
      if (end.kind === 'failed') subscriber.error(end.error);
      else if (end.kind === 'lost' && !this.requeue) subscriber.error(end.error);
      else if (end.kind === 'closing' || (end.kind === 'done' && !this.requeue)) subscriber.complete();
      if (subscriber.closed) return;
    }
  }

  /** Unsubscribed: cancel a wait, or drain the running work (the key goes once it has returned). */
  unsubscribed(): void {
    this.#stop.abort(new ClosedError('the subscription ended'));
    void this.#term?.drain('drained', 'the subscription ended');
  }

  /** The hold, or undefined once the subscription has ended (completed or errored as due). */
  async #acquire(): Promise<H | undefined> {
    let backoff = this.runtime.reconnectBackoff.next(undefined);
    for (;;) {
      try {
        return await this.rules.acquire(this.#stop.signal);
      } catch (err) {
        if (this.subscriber.closed) return undefined;
        if (err instanceof ClosedError) {
          this.subscriber.complete();
          return undefined;
        }
        const lost = isConcordError(err, 'LEADERSHIP_LOST') || isConcordError(err, 'LOCK_LOST');
        if (!this.requeue || !(lost || isConcordError(err, 'NOT_CONNECTED'))) {
          this.subscriber.error(err);
          return undefined;
        }
        if (!lost) {
          // etcd unreachable: try again at the reconnect pace, until it answers, we are told to
          // stop, or the Concord closes (the next attempt then completes the Observable).
          const stop = AbortSignal.any([this.#stop.signal, this.runtime.signal]);
          await sleep(backoff.duration, stop).catch(() => undefined);
          backoff = backoff.next(undefined);
        }
      }
    }
  }
}
