import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { abortable, linkSignals } from './abort.js';

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

test('linkSignals: aborts with the first source reason, and unlink leaves no listener behind', () => {
  const a = new AbortController();
  const b = new AbortController();
  const linked = linkSignals([a.signal, b.signal]);
  assert.equal(linked.signal.aborted, false);
  b.abort(new Error('b'));
  assert.equal((linked.signal.reason as Error).message, 'b');
  a.abort(new Error('a'));
  assert.equal((linked.signal.reason as Error).message, 'b');

  const already = new AbortController();
  already.abort('gone');
  assert.equal(linkSignals([new AbortController().signal, already.signal]).signal.reason, 'gone');
  assert.equal(getEventListeners(a.signal, 'abort').length, 0, 'an aborted link let go of every source');

  const source = new AbortController();
  const unlinked = linkSignals([source.signal]);
  assert.equal(getEventListeners(source.signal, 'abort').length, 1);
  unlinked.unlink();
  unlinked.unlink();
  assert.equal(getEventListeners(source.signal, 'abort').length, 0);
  source.abort();
  assert.equal(unlinked.signal.aborted, false, 'an unlinked signal no longer follows');
});
