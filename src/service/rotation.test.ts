// Choosing among a pool: round-robin in key order, smooth weighted round-robin, random.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_WEIGHT, Rotation, weightOf } from './rotation.js';
import type { ServiceInstance } from './types.js';

function instance(id: string, weight?: unknown): ServiceInstance {
  return {
    service: 's',
    id,
    address: `${id}:1`,
    status: 'serving',
    key: `svc/s/${id}`,
    revision: 1n,
    ...(weight === undefined ? {} : { meta: { weight } }),
  };
}

/** A random deterministic generator, so a failing case can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const picks = (rotation: Rotation, n: number) =>
  Array.from({ length: n }, () => rotation.next()?.id ?? '-').join(' ');

test('an empty pool gives undefined', () => {
  for (const strategy of ['round-robin', 'random'] as const) {
    const rotation = new Rotation(strategy);
    assert.equal(rotation.next(), undefined);
    rotation.reset([]);
    assert.equal(rotation.next(), undefined);
  }
});

test('round-robin visits the pool in key order and continues after the last pick across resets', () => {
  const rotation = new Rotation('round-robin');
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => instance(id)) as ServiceInstance[];
  rotation.reset([a!, b!, c!]);
  assert.equal(picks(rotation, 4), 'a b c a');
  rotation.reset([a!, c!, d!]); // b went, d came
  assert.equal(picks(rotation, 4), 'c d a c');
  rotation.reset([a!, b!, d!]); // c, the last pick, went: continue after where it was
  assert.equal(picks(rotation, 3), 'd a b');
});

test('different weights: smooth weighted round-robin, as nginx (5:1:1 gives a a b a c a a)', () => {
  const rotation = new Rotation('round-robin');
  rotation.reset([instance('a', 5), instance('b', 1), instance('c', 1)]);
  assert.equal(picks(rotation, 7), 'a a b a c a a');
  assert.equal(picks(rotation, 7), 'a a b a c a a', 'the cycle repeats exactly');
  rotation.reset([instance('a', 3), instance('b', 2), instance('c', 1)]);
  const counts = new Map<string, number>();
  for (let i = 0; i < 600; i++) {
    const id = rotation.next()!.id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { a: 300, b: 200, c: 100 });
});

test('weighted credit carries over a new pool: the same pool again changes nothing', () => {
  const pool = [instance('a', 5), instance('b', 1), instance('c', 1)];
  const steady = new Rotation('round-robin');
  steady.reset(pool);
  const reset = new Rotation('round-robin');
  reset.reset(pool);
  let a = '';
  let b = '';
  for (let i = 0; i < 14; i++) {
    a += `${steady.next()!.id} `;
    reset.reset([...pool]);
    b += `${reset.next()!.id} `;
  }
  assert.equal(b, a);
  // To equal weights (continuing after the last pick, a) and to different ones again: no stale credit.
  reset.reset([instance('a'), instance('b')]);
  assert.equal(picks(reset, 3), 'b a b');
  reset.reset([instance('a', 1), instance('b', 3)]);
  assert.equal(picks(reset, 8), 'b a b b b a b b');
});

test('weights that are not a number in (0, 1,000,000] count as 1', () => {
  for (const weight of [0, -1, '5', Number.NaN, Number.POSITIVE_INFINITY, MAX_WEIGHT + 1, null, {}]) {
    assert.equal(weightOf(instance('a', weight)), 1, String(weight));
  }
  assert.equal(weightOf(instance('a')), 1);
  assert.equal(weightOf(instance('a', 0.5)), 0.5);
  assert.equal(weightOf(instance('a', MAX_WEIGHT)), MAX_WEIGHT);
  const rotation = new Rotation('round-robin');
  rotation.reset([instance('a', 'x'), instance('b', 1)]);
  assert.equal(picks(rotation, 4), 'a b a b');
});

test('random: uniform with equal weights, proportional otherwise', () => {
  const uniform = new Rotation('random', seeded(1));
  uniform.reset(['a', 'b', 'c', 'd'].map((id) => instance(id)));
  const weighted = new Rotation('random', seeded(2));
  weighted.reset([instance('a', 6), instance('b', 3), instance('c', 1)]);
  const count = (rotation: Rotation) => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const id = rotation.next()!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  };
  for (const [id, n] of count(uniform)) assert.ok(Math.abs(n - 5_000) < 400, `${id}: ${n}`);
  const shares = count(weighted);
  for (const [id, share] of [
    ['a', 0.6],
    ['b', 0.3],
    ['c', 0.1],
  ] as const) {
    const n = shares.get(id)!;
    assert.ok(Math.abs(n / 20_000 - share) < 0.02, `${id}: ${n}`);
  }
});
