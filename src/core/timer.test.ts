import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterAtLeast } from './timer.js';

test('afterAtLeast: never runs before its time by performance.now(), however the loop clock rounds', async () => {
  const early: number[] = [];
  for (let i = 0; i < 60; i++) {
    // Busy a fraction of a millisecond so the wait starts at varying points of the loop's millisecond.
    const busy = performance.now();
    while (performance.now() - busy < (i % 10) / 10);
    const start = performance.now();
    const waited = await new Promise<number>((resolve) =>
      afterAtLeast(5, () => resolve(performance.now() - start)),
    );
    if (waited < 5) early.push(waited);
  }
  assert.deepEqual(early, []);
});

test('afterAtLeast: the returned function cancels it', async () => {
  let ran = false;
  const cancel = afterAtLeast(5, () => {
    ran = true;
  });
  cancel();
  cancel();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(ran, false);
});
