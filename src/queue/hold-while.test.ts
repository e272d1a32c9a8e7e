import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { Subject } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { ClosedError } from '../errors.js';
import { holdWhile } from './hold-while.js';

/** A held thing whose loss and end the test drives. */
function fakeHold() {
  const lost$ = new Subject<Error>();
  let ended = 0;
  return { held: { key: 'k', lost$ }, lost$, ended: () => ended, end: async () => void ended++ };
}

const runtime = { log: { warn: () => undefined } } as unknown as Runtime;

function observe(
  completeOnEnd: boolean,
  acquire: (signal: AbortSignal) => Promise<{ key: string; lost$: Subject<Error> }>,
  end: () => Promise<void>,
) {
  const seen: string[] = [];
  const subscription = holdWhile(runtime, acquire, { end, completeOnEnd }).subscribe({
    next: () => seen.push('next'),
    error: (err: unknown) => seen.push(`error:${(err as Error).message}`),
    complete: () => seen.push('complete'),
  });
  return { seen, subscription };
}

test('holdWhile: emits once held, errors with the loss, ends the hold on unsubscribe', async () => {
  const fake = fakeHold();
  const { seen, subscription } = observe(false, async () => fake.held, fake.end);
  await tick();
  assert.deepEqual(seen, ['next']);
  subscription.unsubscribe();
  assert.equal(fake.ended(), 1);

  const lost = fakeHold();
  const second = observe(false, async () => lost.held, lost.end);
  await tick();
  lost.lost$.next(new Error('gone'));
  assert.deepEqual(second.seen, ['next', 'error:gone']);
});

test('holdWhile: a voluntary end completes only with completeOnEnd; a ClosedError while waiting too', async () => {
  for (const completeOnEnd of [false, true]) {
    const fake = fakeHold();
    const { seen } = observe(completeOnEnd, async () => fake.held, fake.end);
    await tick();
    fake.lost$.complete();
    assert.deepEqual(seen, completeOnEnd ? ['next', 'complete'] : ['next']);

    const closing = observe(completeOnEnd, async () => Promise.reject(new ClosedError('closed')), fake.end);
    await tick();
    assert.deepEqual(closing.seen, completeOnEnd ? ['complete'] : ['error:closed']);
  }
});

test('holdWhile: unsubscribing while waiting aborts the wait; a hold that arrives late is ended at once', async () => {
  const fake = fakeHold();
  let signal: AbortSignal | undefined;
  let arrive!: () => void;
  const { seen, subscription } = observe(
    false,
    (s) => {
      signal = s;
      return new Promise((resolve) => (arrive = () => resolve(fake.held)));
    },
    fake.end,
  );
  subscription.unsubscribe();
  assert.ok(signal?.aborted);
  arrive();
  await tick();
  assert.equal(fake.ended(), 1);
  assert.deepEqual(seen, []);
});
