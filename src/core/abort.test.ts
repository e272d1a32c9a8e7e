import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { abortable } from './abort.js';

test('abortable: an already aborted signal rejects with its reason and leaves no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const record = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', record);
  try {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    let fail!: (err: Error) => void;
    const work = new Promise<never>((_, reject) => (fail = reject));
    await assert.rejects(abortable(work, controller.signal), /stop/);
    fail(new Error('the work failed later'));
    await tick();
    await tick();
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', record);
  }
});

test('abortable: settles with the promise, or with the reason as soon as the signal aborts', async () => {
  assert.equal(await abortable(Promise.resolve(7), new AbortController().signal), 7);
  const controller = new AbortController();
  const pending = abortable(new Promise(() => undefined), controller.signal);
  controller.abort(new Error('gone'));
  await assert.rejects(pending, /gone/);
});
