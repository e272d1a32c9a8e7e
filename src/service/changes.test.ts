// Incremental catalog updates: the changes between two entry maps and the sorted list after them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyChanges, byKey, downsFirst, instanceChanges } from './changes.js';
import type { Entry } from './entry.js';
import type { DiscoveryError, ServiceChange, ServiceInstance } from './types.js';

let revision = 0n;
function instance(id: string, address = `${id}:1`): ServiceInstance {
  return { service: 's', id, address, status: 'serving', key: `svc/s/${id}`, revision: ++revision };
}
function skipped(id: string): DiscoveryError {
  return { key: `svc/s/${id}`, revision: ++revision, value: Buffer.from('{'), message: 'bad' };
}
function entries(...list: Entry[]): Map<string, Entry> {
  return new Map(list.map((e) => [e.key, e]));
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

describe('instanceChanges', () => {
  test('up, update and down, sorted by key; unchanged keys are skipped', () => {
    const a = instance('a');
    const b = instance('b');
    const c = instance('c');
    const b2 = instance('b', 'b:2');
    const d = instance('d');
    const before = entries(a, b, c);
    const after = entries(b2, c, d);
    const changes = instanceChanges(
      ['d', 'a', 'b', 'c'].map((id) => `svc/s/${id}`),
      before,
      after,
      () => {
        throw new Error('nothing was skipped');
      },
    );
    assert.deepEqual(summary(changes), ['down a', 'update b', 'up d']);
    assert.equal(changes[0]!.instance, a, 'down carries the instance as it was');
    assert.equal(changes[1]!.instance, b2, 'update carries the new instance');
  });

  test('an instance overwritten with an invalid value goes down and the entry is reported', () => {
    const a = instance('a');
    const bad = skipped('a');
    const reported: DiscoveryError[] = [];
    const changes = instanceChanges(['svc/s/a'], entries(a), entries(bad), (e) => reported.push(e));
    assert.deepEqual(summary(changes), ['down a']);
    assert.deepEqual(reported, [bad]);
  });

  test('an invalid entry fixed comes up; an invalid one rewritten invalid is reported again', () => {
    const bad = skipped('a');
    const worse = skipped('b');
    const fixed = instance('a');
    const reported: DiscoveryError[] = [];
    const changes = instanceChanges(
      ['svc/s/a', 'svc/s/b'],
      entries(bad, skipped('b')),
      entries(fixed, worse),
      (e) => reported.push(e),
    );
    assert.deepEqual(summary(changes), ['up a']);
    assert.deepEqual(reported, [worse]);
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

  test('random changes: the list always equals the sorted instances of the entries', () => {
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      const names = Array.from({ length: 30 }, (_, i) => `i${String(i).padStart(2, '0')}`);
      let current = new Map<string, Entry>();
      let list: readonly ServiceInstance[] = [];
      for (let step = 0; step < 300; step++) {
        const after = new Map(current);
        const touched = new Set<string>();
        for (let n = Math.floor(next() * 4); n >= 0; n--) {
          const id = names[Math.floor(next() * names.length)]!;
          const roll = next();
          const entry = roll < 0.3 ? undefined : roll < 0.4 ? skipped(id) : instance(id);
          if (entry) after.set(`svc/s/${id}`, entry);
          else after.delete(`svc/s/${id}`);
          touched.add(`svc/s/${id}`);
        }
        const changes = instanceChanges(touched, current, after, () => undefined);
        list = applyChanges(list, changes);
        const expected = [...after.values()]
          .filter((e): e is ServiceInstance => !('message' in e))
          .sort(byKey);
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
