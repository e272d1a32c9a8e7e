// Passive outlier ejection, on a fake clock: thresholds, growth and its cap, the cap on how many
// are ejected at once, and what ends an ejection early.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type EjectPolicy, Outliers, type RestoreReason } from './outlier.js';
import type { InstanceStatus, ServiceInstance } from './types.js';

function instance(id: string, revision = 1n, status: InstanceStatus = 'serving'): ServiceInstance {
  return { service: 's', id, address: `${id}:1`, status, key: `svc/s/${id}`, revision };
}

/** Outliers on a clock the test moves, recording what the listener heard. */
function setup(policy: Partial<EjectPolicy> = {}, list = ['a', 'b', 'c', 'd'].map((id) => instance(id))) {
  const clock = { now: 0 };
  const heard: string[] = [];
  const outliers = new Outliers(
    { afterErrors: 3, forMs: 1_000, maxForMs: 5_000, maxPercent: 50, ...policy },
    () => clock.now,
    {
      ejected: (i, forMs) => heard.push(`ejected ${i.id} ${forMs}`),
      restored: (i, reason: RestoreReason) => heard.push(`restored ${i.id} ${reason}`),
    },
  );
  outliers.sync(list, list.filter((i) => i.status === 'serving').length);
  const errors = (i: ServiceInstance, n: number) => {
    let ejected = false;
    for (let k = 0; k < n; k++) ejected = outliers.report(i, 'error') || ejected;
    return ejected;
  };
  return { clock, heard, outliers, list, errors };
}

test('afterErrors errors in a row eject; an ok in between starts the count again', () => {
  const { outliers, list, errors, heard } = setup();
  const a = list[0]!;
  assert.equal(errors(a, 2), false);
  outliers.report(a, 'ok');
  assert.equal(errors(a, 2), false, 'the ok reset the count');
  assert.equal(outliers.isEjected(a.key), false);
  assert.equal(errors(a, 1), true, 'third error in a row');
  assert.equal(outliers.isEjected(a.key), true);
  assert.deepEqual(heard, ['ejected a 1000']);
  // Outcomes of requests already in flight when it was ejected change nothing.
  assert.equal(errors(a, 5), false);
  outliers.report(a, 'ok');
  assert.equal(outliers.isEjected(a.key), true);
});

test('an ejection lasts forMs; back on probation, one error ejects again for twice as long, up to maxForMs', () => {
  const { clock, outliers, list, errors, heard } = setup();
  const a = list[0]!;
  errors(a, 3);
  clock.now = 999;
  assert.equal(outliers.expire(), false);
  assert.equal(outliers.isEjected(a.key), true);
  const durations: number[] = [];
  let ejectedAt = 0;
  for (let round = 0; round < 5; round++) {
    while (outliers.isEjected(a.key)) {
      clock.now += 1;
      outliers.expire();
    }
    durations.push(clock.now - ejectedAt);
    ejectedAt = clock.now;
    assert.equal(errors(a, 1), true, 'one error on probation ejects again');
  }
  // Ejected at 0 for 1 s (ended at 1000), then 2 s, 4 s, and 5 s twice (the cap).
  assert.deepEqual(durations, [1_000, 2_000, 4_000, 5_000, 5_000]);
  assert.deepEqual(
    heard.filter((h) => h.startsWith('ejected')),
    [
      'ejected a 1000',
      'ejected a 2000',
      'ejected a 4000',
      'ejected a 5000',
      'ejected a 5000',
      'ejected a 5000',
    ],
  );
  assert.ok(heard.includes('restored a expired'));
});

test('an ok after an ejection ends the probation and resets the growth', () => {
  const { clock, outliers, list, errors } = setup();
  const a = list[0]!;
  errors(a, 3);
  clock.now = 1_000;
  outliers.expire();
  errors(a, 1);
  clock.now = 3_000;
  outliers.expire();
  assert.equal(outliers.isEjected(a.key), false);
  outliers.report(a, 'ok');
  assert.equal(errors(a, 2), false, 'probation is over: one error no longer ejects');
  assert.equal(errors(a, 1), true);
  clock.now = 3_999;
  outliers.expire();
  assert.equal(outliers.isEjected(a.key), true);
  clock.now = 4_000;
  outliers.expire();
  assert.equal(outliers.isEjected(a.key), false, 'back to forMs (1 s) after the ok');
});

test('never more than maxPercent of the serving instances at once; the errors keep counting', () => {
  const { clock, outliers, list, errors, heard } = setup({ maxPercent: 50 });
  const [a, b, c] = list as [ServiceInstance, ServiceInstance, ServiceInstance];
  assert.equal(errors(a, 3), true);
  clock.now = 10;
  assert.equal(errors(b, 3), true);
  assert.equal(errors(c, 10), false, '2 of 4 ejected: c stays in');
  assert.equal(outliers.ejectedCount, 2);
  clock.now = 1_000;
  outliers.expire();
  assert.equal(outliers.ejectedCount, 1, 'a is back, b still out');
  assert.equal(errors(c, 1), true, 'the next error of c ejects it');
  assert.deepEqual(heard, ['ejected a 1000', 'ejected b 1000', 'restored a expired', 'ejected c 1000']);
});

test('a lone instance is never ejected at 50%; maxPercent 100 may eject every one; 0 none', () => {
  const lone = setup({}, [instance('a')]);
  assert.equal(lone.errors(lone.list[0]!, 10), false);
  const all = setup({ maxPercent: 100 }, [instance('a'), instance('b')]);
  assert.equal(all.errors(all.list[0]!, 3) && all.errors(all.list[1]!, 3), true);
  assert.equal(all.outliers.ejectedCount, 2);
  const none = setup({ maxPercent: 0 });
  assert.equal(none.errors(none.list[0]!, 10), false);
});

test('when instances leave, ejections over the cap end, soonest-ending first', () => {
  const { clock, outliers, list, errors, heard } = setup();
  const [a, b, c, d] = list as [ServiceInstance, ServiceInstance, ServiceInstance, ServiceInstance];
  errors(b, 3);
  clock.now = 100;
  errors(a, 3);
  // Two of four ejected; c and d go away, so one of two may stay ejected: b ends first.
  const shrunk = [a, b];
  assert.equal(outliers.sync(shrunk, 2), true);
  assert.equal(outliers.isEjected(b.key), false);
  assert.equal(outliers.isEjected(a.key), true);
  assert.deepEqual(heard.slice(-1), ['restored b cap']);
  assert.equal(outliers.sync([a, b, c, d], 4), false, 'growing back ends nothing');
});

test('a rewrite (re-registration, update, drain) ends an ejection and forgets the errors; a removal forgets silently', () => {
  const { outliers, list, errors, heard } = setup();
  const [a, b, c] = list as [ServiceInstance, ServiceInstance, ServiceInstance];
  errors(a, 3);
  errors(b, 2);
  errors(c, 3);
  const a2 = instance('a', 2n);
  const b2 = instance('b', 2n);
  assert.equal(outliers.sync([a2, b2], 2), true);
  assert.equal(outliers.isEjected(a2.key), false);
  assert.deepEqual(heard.slice(-1), ['restored a rewritten'], 'c went away: no word about it');
  assert.equal(errors(b2, 2), false, 'b starts counting afresh');
  assert.equal(errors(a2, 2), false, 'no probation after a rewrite');
  const drained = instance('a', 3n, 'draining');
  errors(a2, 1);
  assert.equal(outliers.isEjected(a2.key), true);
  const said = heard.length;
  outliers.sync([drained, b2], 1);
  assert.equal(outliers.isEjected(drained.key), false);
  assert.equal(heard.length, said, 'a draining instance is not back in rotation: nothing to say');
});
