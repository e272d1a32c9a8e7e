// expiringAlarm on fake timers and a hand-moved budget: when expiring$ fires, re-arms and ends.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { BehaviorSubject, Subject } from 'rxjs';
import { InvalidArgumentError } from '../errors.js';
import { type BudgetEvent, checkMargin, expiringAlarm } from './budget.js';

/** A lease budget the test moves: a deadline on the fake clock, renewals and ends as events. */
function budget(deadline: number) {
  let at = deadline;
  const events = new Subject<BudgetEvent>();
  return {
    events,
    timeLeft: () => Math.max(0, at - Date.now()),
    renew: (next: number) => {
      at = next;
      events.next('renewed');
    },
  };
}

function observe(marginMs: number, b: ReturnType<typeof budget>) {
  const seen: string[] = [];
  const subscription = expiringAlarm(marginMs, b.timeLeft, b.events).subscribe({
    next: () => seen.push(`expiring@${Date.now()}`),
    complete: () => seen.push('complete'),
  });
  return { seen, subscription };
}

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
afterEach(() => mock.timers.reset());

test('fires once no more than the margin is left, then completes', () => {
  const b = budget(10_000);
  const { seen } = observe(3_000, b);
  mock.timers.tick(6_999);
  assert.deepEqual(seen, []);
  mock.timers.tick(1);
  assert.deepEqual(seen, ['expiring@7000', 'complete']);
});

test('a renewal moves the crossing point; the old timer does not fire', () => {
  const b = budget(10_000);
  const { seen } = observe(3_000, b);
  mock.timers.tick(3_400);
  b.renew(13_400);
  mock.timers.tick(4_000);
  assert.deepEqual(seen, [], 'the first crossing point (7000) passed after a renewal');
  mock.timers.tick(2_999);
  assert.deepEqual(seen, []);
  mock.timers.tick(1);
  assert.deepEqual(seen, ['expiring@10400', 'complete']);
});

test('loss fires at once, even with plenty left; a voluntary end completes without emitting', () => {
  const lost = budget(10_000);
  const first = observe(1_000, lost);
  mock.timers.tick(100);
  lost.events.next('lost');
  assert.deepEqual(first.seen, ['expiring@100', 'complete']);

  const ended = budget(10_000);
  const second = observe(1_000, ended);
  ended.events.next('ended');
  mock.timers.tick(20_000);
  assert.deepEqual(second.seen, ['complete']);
});

test('a late subscriber under the margin, or after the loss, gets the emission synchronously', () => {
  const b = budget(10_000);
  mock.timers.tick(8_000);
  assert.deepEqual(observe(2_000, b).seen, ['expiring@8000', 'complete'], 'exactly at the margin');
  assert.deepEqual(observe(1_999, b).seen, [], 'still more than the margin left');

  const gone = new BehaviorSubject<BudgetEvent>('lost');
  const seen: string[] = [];
  expiringAlarm(5, () => 0, gone).subscribe({
    next: () => seen.push('next'),
    complete: () => seen.push('c'),
  });
  assert.deepEqual(seen, ['next', 'c']);
  const closed = new BehaviorSubject<BudgetEvent>('ended');
  const after: string[] = [];
  expiringAlarm(5, () => 0, closed).subscribe({
    next: () => after.push('next'),
    complete: () => after.push('c'),
  });
  assert.deepEqual(after, ['c'], 'ended wins over a budget of 0 when reported at once');
});

test('margin 0 fires exactly at the deadline; unsubscribing clears the timer', () => {
  const b = budget(5_000);
  const { seen } = observe(0, b);
  mock.timers.tick(4_999);
  assert.deepEqual(seen, []);
  mock.timers.tick(1);
  assert.deepEqual(seen, ['expiring@5000', 'complete']);

  const quiet = budget(Date.now() + 5_000);
  const { seen: none, subscription } = observe(1_000, quiet);
  subscription.unsubscribe();
  assert.equal(quiet.events.observed, false, 'the events subscription is gone');
  mock.timers.tick(10_000);
  assert.deepEqual(none, []);
});

test('a timer that fires early re-arms instead of firing', () => {
  // A clock that lags the timers by 1 ms, as performance.now() may against libuv's loop time.
  const at = 3_000;
  const events = new Subject<BudgetEvent>();
  const seen: number[] = [];
  expiringAlarm(1_000, () => Math.max(0, at - Date.now() + 1), events).subscribe(() => seen.push(Date.now()));
  mock.timers.tick(2_000);
  assert.deepEqual(seen, []);
  mock.timers.tick(1);
  assert.deepEqual(seen, [2_001]);
});

test('checkMargin: integers >= 0 only, named in the error', () => {
  for (const ok of [0, 1, 2_500]) checkMargin('marginMs', ok);
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', undefined, null]) {
    assert.throws(
      () => checkMargin('marginMs', bad),
      (err: unknown) => err instanceof InvalidArgumentError && err.argument === 'marginMs',
    );
  }
});
