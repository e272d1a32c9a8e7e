// VersionedMap: every version keeps its entries forever, whatever happens after it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { VersionedMap } from './versioned-map.js';

interface Item {
  n: number;
}

type Change = readonly [string, Item | undefined];

/** A small deterministic PRNG, so a failing case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function sorted<V>(entries: Iterable<[string, V]>): [string, V][] {
  return [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Checks every read of `version` against `expected`, with keys it has and keys it lacks. */
function assertSame(version: VersionedMap<Item>, expected: Map<string, Item>, probes: string[]): void {
  assert.equal(version.size, expected.size);
  for (const key of probes) {
    assert.equal(version.get(key), expected.get(key), `get(${key})`);
    assert.equal(version.has(key), expected.has(key), `has(${key})`);
  }
  assert.deepEqual(sorted(version), sorted(expected));
  assert.deepEqual([...version.keys()].sort(), [...expected.keys()].sort());
  assert.deepEqual(
    [...version.values()].map((v) => v.n).sort((a, b) => a - b),
    [...expected.values()].map((v) => v.n).sort((a, b) => a - b),
  );
  const seen: [string, Item][] = [];
  version.forEach((value, key, map) => {
    assert.equal(map, version);
    seen.push([key, value]);
  });
  assert.deepEqual(sorted(seen), sorted(expected));
}

describe('VersionedMap', () => {
  test('the first version reads the Map it was given', () => {
    const a = { n: 1 };
    const v = VersionedMap.from(new Map([['a', a]]));
    assert.equal(v.size, 1);
    assert.equal(v.get('a'), a);
    assert.equal(v.get('b'), undefined);
    assert.equal(v.has('a'), true);
    assert.equal(v.has('b'), false);
    assert.deepEqual([...v], [['a', a]]);
  });

  test('an update makes a new version and leaves the old one as it was', () => {
    const a = { n: 1 };
    const b = { n: 2 };
    const a2 = { n: 3 };
    const v0 = VersionedMap.from(new Map([['a', a]]));
    const v1 = v0.update([['b', b]]);
    const v2 = v1.update([
      ['a', a2],
      ['b', undefined],
    ]);
    assertSame(v0, new Map([['a', a]]), ['a', 'b']);
    assertSame(v1, new Map(Object.entries({ a, b })), ['a', 'b']);
    assertSame(v2, new Map([['a', a2]]), ['a', 'b']);
  });

  test('only the newest version can be updated', () => {
    const v0 = VersionedMap.from(new Map<string, Item>());
    v0.update([['a', { n: 1 }]]);
    assert.throws(() => v0.update([['b', { n: 2 }]]), /only the newest version/);
  });

  test('a key changed twice in one update keeps its first previous value for the old version', () => {
    const v0 = VersionedMap.from(new Map([['a', { n: 1 }]]));
    const v1 = v0.update([
      ['a', { n: 2 }],
      ['a', undefined],
      ['b', { n: 3 }],
      ['b', { n: 4 }],
    ]);
    assert.deepEqual(v0.get('a'), { n: 1 });
    assert.equal(v0.has('b'), false);
    assert.equal(v1.has('a'), false);
    assert.deepEqual(v1.get('b'), { n: 4 });
    assert.deepEqual(v1.changedSince(v0), new Set(['a', 'b']));
  });

  test('an iterator started on the newest version is not disturbed by later updates', () => {
    const initial = new Map<string, Item>();
    for (let i = 0; i < 10; i++) initial.set(`k${i}`, { n: i });
    const v0 = VersionedMap.from(new Map(initial));
    const iterator = v0.entries();
    const first = iterator.next();
    const v1 = v0.update([
      ['k0', undefined],
      ['k9', undefined],
      ['new', { n: 99 }],
    ]);
    const v2 = v1.update([['k5', { n: 55 }]]);
    const rest = [...iterator];
    assert.deepEqual(sorted([first.value!, ...rest]), sorted(initial));
    assertSame(v0, initial, ['k0', 'k5', 'new']);
    assert.equal(v2.get('k5')?.n, 55);
    assert.equal(v2.size, 9);
    // The iteration has ended: the following update changes the newest Map in place again.
    const v3 = v2.update([['k1', undefined]]);
    assert.deepEqual(v3.changedSince(v2), new Set(['k1']));
  });

  test('an iterator created before an update but started after it reads its own version', () => {
    const v0 = VersionedMap.from(new Map([['a', { n: 1 }]]));
    const keys = v0.keys();
    v0.update([
      ['a', undefined],
      ['b', { n: 2 }],
    ]);
    assert.deepEqual([...keys], ['a']);
  });

  test('an iteration abandoned midway costs one copy, not a stuck map', () => {
    const v0 = VersionedMap.from(
      new Map([
        ['a', { n: 1 }],
        ['b', { n: 2 }],
      ]),
    );
    v0.entries().next();
    const v1 = v0.update([['c', { n: 3 }]]);
    // The copy started a new epoch: the change is not recorded across it ...
    assert.equal(v1.changedSince(v0), undefined);
    // ... and updates of the copy are recorded again.
    const v2 = v1.update([['d', { n: 4 }]]);
    assert.deepEqual(v2.changedSince(v1), new Set(['d']));
    assert.deepEqual(
      sorted(v0).map(([k]) => k),
      ['a', 'b'],
    );
  });

  test('changedSince lists every key changed between two versions of one epoch', () => {
    const v0 = VersionedMap.from(new Map([['a', { n: 1 }]]));
    const v1 = v0.update([['b', { n: 2 }]]);
    const v2 = v1.update([['a', undefined]]);
    const v3 = v2.update([['c', { n: 3 }]]);
    assert.deepEqual(v3.changedSince(v3), new Set());
    assert.deepEqual(v3.changedSince(v2), new Set(['c']));
    assert.deepEqual(v3.changedSince(v0), new Set(['a', 'b', 'c']));
    assert.equal(v0.changedSince(v3), undefined, 'not an earlier version');
    assert.equal(v3.changedSince(VersionedMap.from(new Map())), undefined, 'another lineage');
  });

  test('an epoch ends once the undo records outgrow the map', () => {
    const v0 = VersionedMap.from(new Map([['a', { n: 0 }]]));
    let version = v0;
    let epochs = 0;
    for (let i = 1; i <= 200; i++) {
      const next = version.update([['a', { n: i }]]);
      if (next.changedSince(version) === undefined) epochs++;
      version = next;
    }
    // At least 64 changes per epoch for a small map.
    assert.ok(epochs >= 2 && epochs <= 3, `${epochs} epochs`);
    assert.equal(v0.get('a')?.n, 0);
    assert.equal(version.get('a')?.n, 200);
  });

  test('an old version far behind still reads its own entries (and copies them once)', () => {
    const v0 = VersionedMap.from(new Map([['a', { n: 0 }]]));
    let version = v0;
    for (let i = 1; i <= 30; i++) version = version.update([[`k${i}`, { n: i }]]);
    assert.equal(v0.get('k5'), undefined);
    assert.equal(v0.get('a')?.n, 0);
    assert.deepEqual(sorted(v0), [['a', { n: 0 }]]);
    assert.equal(version.size, 31);
    // The copy keeps the link: what changed since is still known.
    assert.equal(version.changedSince(v0)?.size, 30);
  });

  test('random updates: every version always reads as the Map it stood for', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const next = random(seed);
      const keys = Array.from({ length: 40 }, (_, i) => `key/${i}`);
      const model = new Map<string, Item>();
      const history: { version: VersionedMap<Item>; expected: Map<string, Item> }[] = [];
      let version = VersionedMap.from(new Map<string, Item>());
      let n = 0;
      for (let step = 0; step < 400; step++) {
        const changes: Change[] = [];
        const count = 1 + Math.floor(next() * (next() < 0.1 ? 30 : 3));
        for (let i = 0; i < count; i++) {
          const key = keys[Math.floor(next() * keys.length)]!;
          const value = next() < 0.3 ? undefined : { n: n++ };
          changes.push([key, value]);
          if (value === undefined) model.delete(key);
          else model.set(key, value);
        }
        const before = version;
        // Sometimes an iteration of the newest version is under way during the update.
        const open = next() < 0.05 ? before.entries() : undefined;
        open?.next();
        version = before.update(changes);
        const changed = version.changedSince(before);
        if (changed) {
          for (const key of keys) {
            if (before.get(key) !== version.get(key)) assert.ok(changed.has(key), `${key} changed`);
          }
        }
        open?.return(undefined);
        history.push({ version, expected: new Map(model) });
        // Read a random older version (sometimes far behind) and always the newest.
        const old = history[Math.floor(next() * history.length)]!;
        assertSame(old.version, old.expected, keys.slice(0, 8));
        assertSame(version, model, keys);
      }
      for (const { version: v, expected } of history) assertSame(v, expected, keys);
    }
  });

  test('inspect shows the entries', () => {
    const v = VersionedMap.from(new Map([['a', { n: 1 }]]));
    assert.equal(inspect(v), inspect(new Map([['a', { n: 1 }]])));
  });
});
