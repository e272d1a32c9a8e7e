import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Figure, judge, median, type Sample, slopePerMinute } from './stats.js';

function samples(values: Partial<Record<Figure, (i: number) => number>>, count = 12): Sample[] {
  return Array.from({ length: count }, (_, i) => ({
    at: i * 10,
    figures: {
      heapMB: values.heapMB?.(i) ?? 20,
      handles: values.handles?.(i) ?? 10,
      watchers: values.watchers?.(i) ?? 5,
      leases: values.leases?.(i) ?? 2,
      keys: values.keys?.(i) ?? 80,
    },
  }));
}

test('median and slope', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(slopePerMinute([0, 60, 120], [1, 2, 3]), 1);
  assert.equal(slopePerMinute([0], [5]), 0);
});

test('flat figures with noise pass; only growth beyond the tolerance fails', () => {
  const noisy = judge(samples({ heapMB: (i) => 20 + (i % 3), handles: (i) => 10 + (i % 2) }), 0);
  assert.ok(noisy.every((v) => v.ok));
  const leaking = judge(samples({ watchers: (i) => 5 + i, heapMB: (i) => 20 + 2 * i }), 0);
  assert.deepEqual(
    leaking.filter((v) => !v.ok).map((v) => v.figure),
    ['heapMB', 'watchers'],
  );
  const heap = leaking.find((v) => v.figure === 'heapMB')!;
  assert.ok(heap.slopePerMinute > 11 && heap.slopePerMinute < 13);
});

test('warm-up samples are ignored; too few samples after it is an error', () => {
  // Growth during the first 40 s only (warm-up), then flat.
  const warm = samples({ keys: (i) => Math.min(80, 40 + 10 * i) });
  assert.ok(judge(warm, 40).every((v) => v.ok));
  assert.throws(() => judge(warm, 70), /samples after warm-up/);
});
