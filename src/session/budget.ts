import { Observable } from 'rxjs';
import { InvalidArgumentError } from '../errors.js';

/**
 * What the holder of a lease budget reports to {@link expiringAlarm}: `renewed` whenever the
 * deadline may have moved (a renewing ack; also any other state change, which does no harm),
 * `lost` once the lease (or the hold on it) is gone, `ended` once it was given up on purpose
 * (closed, released, resigned). A late subscriber must get the current end at once.
 */
export type BudgetEvent = 'renewed' | 'lost' | 'ended';

// setTimeout takes at most 2^31 - 1 ms; a longer wait is armed in steps (the alarm re-checks).
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Throws {@link InvalidArgumentError} unless `value` is an integer number of milliseconds >= 0. */
export function checkMargin(argument: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(argument, 'must be an integer number of milliseconds >= 0', value);
  }
}

/**
 * The `expiring$(marginMs)` of a lease budget: emits once, then completes, as soon as no more than
 * `marginMs` are left (`timeLeft()`) without a renewal having moved the deadline, or at `lost`,
 * whichever comes first; completes without emitting at `ended`. A subscriber that arrives when
 * the budget is already under the margin, or lost, gets the emission at once (synchronously).
 *
 * Never later than the loss: `lost` is reported by the budget's owner before its `lost$` emits,
 * and the alarm fires on it synchronously. The one timer it arms is re-armed on every `renewed`
 * and cleared on unsubscribe.
 */
export function expiringAlarm(
  marginMs: number,
  timeLeft: () => number,
  events$: Observable<BudgetEvent>,
): Observable<void> {
  return new Observable<void>((subscriber) => {
    let timer: NodeJS.Timeout | undefined;
    const fire = () => {
      clearTimeout(timer);
      subscriber.next();
      subscriber.complete();
    };
    // Timers may fire a little early on their own clock: re-check and re-arm rather than trust them.
    const check = () => {
      clearTimeout(timer);
      if (subscriber.closed) return;
      const wait = timeLeft() - marginMs;
      if (wait <= 0) fire();
      else timer = setTimeout(check, Math.min(Math.ceil(wait), MAX_TIMER_MS));
    };
    const events = events$.subscribe((event) => {
      if (event === 'lost') fire();
      else if (event === 'ended') subscriber.complete();
      else check();
    });
    // A source that reported nothing at once (no current state) is checked now anyway.
    check();
    return () => {
      clearTimeout(timer);
      events.unsubscribe();
    };
  });
}
