// The event bus on its own: observed only while subscribed, stamps `at`, isolates a throwing
// subscriber, completes once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { config } from 'rxjs';
import type { ConcordEvent } from '../events/types.js';
import { EventBus } from './events.js';

test('observed follows the subscribers; emit is a no-op without one and stamps `at` with one', () => {
  const bus = new EventBus();
  assert.equal(bus.observed, false);
  bus.emit({ type: 'watch.stalled', silentMs: 1 });
  const seen: ConcordEvent[] = [];
  const a = bus.events$.subscribe((e) => seen.push(e));
  const b = bus.events$.subscribe();
  assert.equal(bus.observed, true);
  const before = Date.now();
  bus.emit({ type: 'watch.stalled', silentMs: 2 });
  assert.deepEqual(Object.keys(seen[0]!), ['type', 'at', 'silentMs'], 'type first, then at');
  assert.ok(seen[0]!.at >= before && seen[0]!.at <= Date.now());
  a.unsubscribe();
  assert.equal(bus.observed, true, 'one subscriber is left');
  b.unsubscribe();
  assert.equal(bus.observed, false);
  assert.equal(seen.length, 1);
});

test('a subscriber that throws does not break the emission point; complete() ends every subscriber', async () => {
  const bus = new EventBus();
  const reported: unknown[] = [];
  const previous = config.onUnhandledError;
  config.onUnhandledError = (err) => reported.push(err);
  try {
    bus.events$.subscribe(() => {
      throw new Error('subscriber bug');
    });
    assert.doesNotThrow(() => bus.emit({ type: 'watch.stalled', silentMs: 1 }));
    // RxJS reports it on a timer of its own.
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((reported[0] as Error | undefined)?.message, 'subscriber bug');
  } finally {
    config.onUnhandledError = previous;
  }
  let completed = false;
  bus.events$.subscribe({ complete: () => (completed = true) });
  bus.complete();
  assert.equal(completed, true);
  assert.equal(bus.observed, false);
  let late = false;
  bus.events$.subscribe({ complete: () => (late = true) });
  assert.equal(late, true, 'a subscriber after complete() completes at once');
});
