// LeaseDeadline on an injected clock: the local deadline rules of a session.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaseDeadline } from './deadline.js';

/** A clock the test moves by hand. */
function clock(start = 1_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('the first deadline is the grant send time plus the TTL', () => {
  const c = clock();
  const deadline = new LeaseDeadline(900, 10_000, c.now);
  assert.equal(deadline.at, 10_900);
  assert.equal(deadline.timeLeft(), 9_900);
  assert.equal(deadline.passed, false);
  c.advance(9_899);
  assert.equal(deadline.timeLeft(), 1);
  c.advance(1);
  assert.equal(deadline.passed, true);
  assert.equal(deadline.timeLeft(), 0);
  c.advance(5_000);
  assert.equal(deadline.timeLeft(), 0, 'never negative');
});

test('a renewal moves the deadline to its send time plus the granted TTL, never back', () => {
  const c = clock(0);
  const deadline = new LeaseDeadline(0, 9_000, c.now);
  c.advance(3_000);
  assert.equal(deadline.renew(2_900, 9), true);
  assert.equal(deadline.at, 11_900, 'counted from when the keepalive was sent, not answered');
  assert.equal(deadline.renew(1_000, 9), true, 'an older keepalive answered late');
  assert.equal(deadline.at, 11_900, 'does not move the deadline back');
  assert.equal(deadline.renew(3_000, 5), true);
  assert.equal(deadline.at, 11_900, 'a shorter grant does not either');
});

test('a passed deadline stays passed, whatever answer comes late', () => {
  const c = clock(0);
  const deadline = new LeaseDeadline(0, 6_000, c.now);
  c.advance(6_000);
  assert.equal(deadline.renew(5_900, 6), false);
  assert.equal(deadline.at, 6_000);
  assert.equal(deadline.passed, true);
  assert.equal(deadline.timeLeft(), 0);
});

test('time until fewer than a margin is left, and until half the TTL (expiring)', () => {
  const c = clock(0);
  const deadline = new LeaseDeadline(0, 10_000, c.now);
  assert.equal(deadline.untilLeft(3_000), 7_000);
  assert.equal(deadline.untilExpiring(), 5_000);
  c.advance(6_000);
  assert.equal(deadline.untilLeft(3_000), 1_000);
  assert.equal(deadline.untilExpiring(), 0, 'already less than half left');
  deadline.renew(6_000, 10);
  assert.equal(deadline.untilLeft(3_000), 7_000, 'a renewal moves the crossing point');
  assert.equal(deadline.untilLeft(20_000), 0, 'a margin above what is left is crossed already');
  c.advance(20_000);
  assert.equal(deadline.untilLeft(0), 0);
});

test('an interruption lasts until the next renewal', () => {
  const c = clock(0);
  const deadline = new LeaseDeadline(0, 10_000, c.now);
  assert.equal(deadline.interrupted, false);
  deadline.interrupt();
  assert.equal(deadline.interrupted, true);
  c.advance(1_000);
  deadline.renew(900, 10);
  assert.equal(deadline.interrupted, false);
  deadline.interrupt();
  c.advance(10_000);
  assert.equal(deadline.renew(10_900, 10), false);
  assert.equal(deadline.interrupted, true, 'a refused renewal ends nothing');
});

test('the default clock is performance.now()', () => {
  const deadline = new LeaseDeadline(performance.now(), 60_000);
  const left = deadline.timeLeft();
  assert.ok(left > 59_000 && left <= 60_000, String(left));
});
