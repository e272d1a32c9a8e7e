// The discovery fold on its own: a read, one revision's events, a re-read, progress. What the hub
// hands every consumer of a range.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RangeKv } from '../etcd/proto/range.js';
import type { KeyValue, KvEvent } from '../watch/types.js';
import { type Catalog, catalogFold } from './catalog.js';
import type { Entry } from './entry.js';
import type { ServiceChange, ServiceInstance } from './types.js';

const fold = catalogFold('svc/', 's');

const kv = (id: string, revision: number, value = `${id}:${revision}`): KeyValue => ({
  key: `svc/s/${id}`,
  value: Buffer.from(value),
  createRevision: BigInt(revision),
  modRevision: BigInt(revision),
  version: 1n,
  lease: '0',
});
const wire = (entry: KeyValue): RangeKv => ({ ...entry, key: Buffer.from(entry.key) });
const put = (id: string, revision: number, value?: string): KvEvent => ({
  type: 'put',
  kv: kv(id, revision, value),
});
const del = (id: string, revision: number): KvEvent => ({ type: 'delete', kv: kv(id, revision, '') });

/** A catalog read from `entries` (in the order given, as etcd lists them). */
function read(revision: number, ...entries: KeyValue[]): Catalog {
  const values: Entry[] = entries.map((e) => fold.read(e.key, wire(e)));
  return fold.start(
    BigInt(revision),
    entries.map((e) => e.key),
    values,
  );
}
const ids = (catalog: Catalog) => catalog.list.map((i) => `${i.id}@${i.revision}`);
const summary = (changes: readonly ServiceChange[]) => changes.map((c) => `${c.type} ${c.instance.id}`);

describe('catalogFold', () => {
  test('a read: instances sorted by key, invalid entries kept aside and all reported as new', () => {
    const catalog = read(9, kv('b', 2), kv('a', 3), kv('bad', 4, '{'), kv('c', 5));
    assert.deepEqual(ids(catalog), ['a@3', 'b@2', 'c@5']);
    assert.equal(catalog.revision, 9n);
    assert.deepEqual(catalog.changes, []);
    assert.deepEqual([...catalog.skipped.keys()], ['svc/s/bad']);
    assert.deepEqual(
      catalog.newlySkipped.map((e) => e.key),
      ['svc/s/bad'],
    );
    assert.ok(Object.isFrozen(catalog.list[0]));
  });

  test("one revision's events: up, update and down, downs first; the old catalog is left as it was", () => {
    const before = read(5, kv('a', 1), kv('b', 2), kv('c', 3));
    const after = fold.apply(before, 6n, [put('d', 6), put('b', 6), del('a', 6)]);
    assert.deepEqual(ids(after), ['b@6', 'c@3', 'd@6']);
    assert.deepEqual(summary(after.changes), ['down a', 'update b', 'up d']);
    assert.equal(after.changes[0]!.instance, before.list[0], 'down carries the instance as it was');
    assert.equal(after.list[1], before.list[2], 'unchanged instances are the same objects');
    assert.deepEqual(ids(before), ['a@1', 'b@2', 'c@3']);
  });

  test('invalid writes: an instance overwritten goes down; fixed it comes up; reported once per write', () => {
    const start = read(5, kv('a', 1), kv('b', 2));
    const broken = fold.apply(start, 6n, [put('a', 6, '{')]);
    assert.deepEqual(summary(broken.changes), ['down a']);
    assert.deepEqual(
      broken.newlySkipped.map((e) => `${e.key}@${e.revision}`),
      ['svc/s/a@6'],
    );
    assert.equal(start.skipped.size, 0, 'the earlier catalog keeps its own skipped map');
    const again = fold.apply(broken, 7n, [put('a', 7, '{x')]);
    assert.deepEqual(again.changes, [], 'invalid over invalid: no instance changed');
    assert.deepEqual(
      again.newlySkipped.map((e) => `${e.key}@${e.revision}`),
      ['svc/s/a@7'],
    );
    const fixed = fold.apply(again, 8n, [put('a', 8)]);
    assert.deepEqual(summary(fixed.changes), ['up a']);
    assert.equal(fixed.skipped.size, 0);
    const gone = fold.apply(fold.apply(fixed, 9n, [put('x', 9, '{')]), 10n, [del('x', 10)]);
    assert.equal(gone.skipped.size, 0, 'a deleted invalid entry is forgotten');
  });

  test('events that change nothing the catalog keeps return the same catalog (nothing is emitted)', () => {
    const start = read(5, kv('a', 1));
    assert.equal(fold.apply(start, 6n, [del('zz', 6)]), start);
  });

  test('a re-read keeps unchanged instances, parses the rest, and reports the difference', () => {
    const before = read(5, kv('a', 1), kv('b', 2), kv('c', 3), kv('bad', 4, '{'));
    const snapshot = new Map(
      [kv('b', 2), kv('c', 7), kv('d', 8), kv('bad', 4, '{'), kv('worse', 9, '{')].map((e) => [e.key, e]),
    );
    const after = fold.restart(before, 12n, snapshot);
    assert.equal(after.revision, 12n);
    assert.deepEqual(ids(after), ['b@2', 'c@7', 'd@8']);
    assert.equal(after.list[0], before.list[1], 'b is the same object');
    assert.deepEqual(summary(after.changes), ['down a', 'update c', 'up d']);
    assert.deepEqual(
      after.newlySkipped.map((e) => e.key),
      ['svc/s/worse'],
      'the invalid entry seen before is not reported again',
    );
  });

  test('progress moves the revision only', () => {
    const start = fold.apply(read(5, kv('a', 1)), 6n, [put('b', 6)]);
    const later = fold.progress(start, 20n);
    assert.equal(later.revision, 20n);
    assert.equal(later.list, start.list);
    assert.deepEqual(later.changes, []);
  });

  test('random events and re-reads: the list always equals the sorted valid instances', () => {
    let seed = 7;
    const next = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const names = Array.from({ length: 30 }, (_, i) => `i${String(i).padStart(2, '0')}`);
    const truth = new Map<string, KeyValue>();
    let catalog = read(1);
    for (let revision = 2; revision < 400; revision++) {
      const events: KvEvent[] = [];
      const touched = new Set<string>();
      for (let n = Math.floor(next() * 4); n >= 0; n--) {
        const id = names[Math.floor(next() * names.length)]!;
        if (touched.has(id)) continue;
        touched.add(id);
        const roll = next();
        const event = roll < 0.3 ? del(id, revision) : put(id, revision, roll < 0.4 ? '{' : undefined);
        if (event.type === 'delete') truth.delete(event.kv.key);
        else truth.set(event.kv.key, event.kv);
        events.push(event);
      }
      const before = catalog;
      catalog =
        revision % 50 === 0
          ? fold.restart(catalog, BigInt(revision), new Map(truth))
          : fold.apply(catalog, BigInt(revision), events);
      const valid = [...truth.values()]
        .filter((e) => e.value.toString() !== '{')
        .sort((a, b) => (a.key < b.key ? -1 : 1));
      assert.deepEqual(
        catalog.list.map((i: ServiceInstance) => `${i.key}@${i.revision}`),
        valid.map((e) => `${e.key}@${e.modRevision}`),
      );
      assert.equal(catalog.skipped.size, truth.size - valid.length);
      if (catalog !== before) assert.equal(catalog.revision, BigInt(revision));
    }
  });

  test('the id tells a service range from a prefix that spells the same range', () => {
    assert.notEqual(catalogFold('a/', 'b').id, catalogFold('a/b/', undefined).id);
    assert.equal(catalogFold('a/', 'b').id, catalogFold('a/', 'b').id);
  });
});
