// Sorted instance lists: the changes between two, and a list with changes applied.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyChanges, byKey, downsFirst, findByKey, isSorted, listChanges } from './changes.js';
import type { ServiceChange, ServiceInstance } from './types.js';

let revision = 0n;
function instance(id: string, address = `${id}:1`): ServiceInstance {
  return { service: 's', id, address, status: 'serving', key: `svc/s/${id}`, revision: ++revision };
}
const ids = (list: readonly ServiceInstance[]) => list.map((i) => i.id);
const summary = (changes: readonly ServiceChange[]) => changes.map((c) => `${c.type} ${c.instance.id}`);

/** A random deterministic generator, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('listChanges', () => {
  test('up, update and down in key order, by one merge walk; the same objects are no change', () => {
    const a = instance('a');
    const b = instance('b');
    const c = instance('c');
    const b2 = instance('b', 'b:2');
    const d = instance('d');
    const changes = listChanges([a, b, c], [b2, c, d]);
    assert.deepEqual(summary(changes), ['down a', 'update b', 'up d']);
    assert.equal(changes[0]!.instance, a, 'down carries the instance as it was');
    assert.equal(changes[1]!.instance, b2, 'update carries the new instance');
    assert.deepEqual(listChanges([], []), []);
    assert.deepEqual(summary(listChanges([a], [])), ['down a']);
    assert.deepEqual(summary(listChanges([], [a, b])), ['up a', 'up b']);
  });

  test('isSorted compares keys as JavaScript does', () => {
    assert.equal(isSorted([instance('a'), instance('b'), instance('c')]), true);
    assert.equal(isSorted([instance('b'), instance('a')]), false);
    assert.equal(isSorted([]), true);
  });
});

describe('applyChanges', () => {
  test('inserts, replaces and removes in key order', () => {
    const [a, b, c, e] = ['a', 'b', 'c', 'e'].map((id) => instance(id)) as [
      ServiceInstance,
      ServiceInstance,
      ServiceInstance,
      ServiceInstance,
    ];
    const list = [b, c, e];
    const changes: ServiceChange[] = [
      { type: 'up', instance: a },
      { type: 'update', instance: instance('c', 'c:2') },
      { type: 'up', instance: instance('d') },
      { type: 'down', instance: e },
      { type: 'up', instance: instance('f') },
    ];
    const out = applyChanges(list, changes);
    assert.deepEqual(ids(out), ['a', 'b', 'c', 'd', 'f']);
    assert.equal(out[2]!.address, 'c:2');
    assert.deepEqual(ids(list), ['b', 'c', 'e'], 'the old list is left as it was');
    assert.deepEqual(applyChanges([], []), []);
    assert.deepEqual(ids(applyChanges([a], [{ type: 'down', instance: a }])), []);
  });

  test('thousands of changes in one go (a range deleted, a big transaction)', () => {
    const list = Array.from({ length: 6_000 }, (_, i) => instance(`i${String(i).padStart(5, '0')}`));
    const evens = list.filter((_, i) => i % 2 === 0);
    const out = applyChanges(list, listChanges(list, evens));
    assert.equal(out.length, 3_000);
    assert.deepEqual(out, evens);
    const back = applyChanges(out, listChanges(out, list));
    assert.deepEqual(back, list);
  });

  test('random changes: applying the changes between two lists gives the second', () => {
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      const names = Array.from({ length: 30 }, (_, i) => `i${String(i).padStart(2, '0')}`);
      let current = new Map<string, ServiceInstance>();
      let list: readonly ServiceInstance[] = [];
      for (let step = 0; step < 300; step++) {
        const after = new Map(current);
        for (let n = Math.floor(next() * 4); n >= 0; n--) {
          const id = names[Math.floor(next() * names.length)]!;
          if (next() < 0.4) after.delete(`svc/s/${id}`);
          else after.set(`svc/s/${id}`, instance(id));
        }
        const expected = [...after.values()].sort(byKey);
        list = applyChanges(list, listChanges(list, expected));
        assert.deepEqual(list, expected);
        current = after;
      }
    }
  });
});

test('downsFirst keeps key order within downs and within the rest', () => {
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => instance(id)) as ServiceInstance[];
  const changes: ServiceChange[] = [
    { type: 'up', instance: a! },
    { type: 'down', instance: b! },
    { type: 'update', instance: c! },
    { type: 'down', instance: d! },
  ];
  assert.deepEqual(summary(downsFirst(changes)), ['down b', 'down d', 'up a', 'update c']);
});

test('findByKey finds by binary search', () => {
  const list = ['a', 'b', 'c', 'd', 'e'].map((id) => instance(id));
  for (const i of list) assert.equal(findByKey(list, i.key), i);
  assert.equal(findByKey(list, 'svc/s/bb'), undefined);
  assert.equal(findByKey([], 'svc/s/a'), undefined);
});
