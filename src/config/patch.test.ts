// The incremental patch of a built config, checked against a whole rebuild (no etcd involved).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deepFreeze } from './data.js';
import { build } from './evaluate.js';
import { type Built, type Edit, patchBuilt } from './patch.js';
import type { ConfigEntry } from './tree.js';

const rules = (defaults?: unknown) => ({
  defaults: defaults === undefined ? undefined : deepFreeze(defaults),
  schema: undefined,
});

function built(entries: Record<string, unknown>, defaults?: unknown): Built {
  const list: ConfigEntry[] = Object.entries(entries).map(([path, value]) => ({
    path,
    value: deepFreeze(value),
  }));
  const result = build(list, [], rules(defaults));
  assert.ok(result.ok, 'the starting keys map');
  return { tree: result.tree, merged: result.merged };
}

function edit(entries: Record<string, unknown>, path: string, after: unknown): Edit {
  return { segments: path.split('/'), before: entries[path], after };
}

describe('patchBuilt', () => {
  test('overwrites a leaf, sharing every subtree it did not touch', () => {
    const keys = { 'db/pool': 5, 'db/host': 'h', 'cache/size': 10 };
    const base = built(keys);
    const patched = patchBuilt(base, [edit(keys, 'db/pool', 6)], undefined);
    assert.ok(patched);
    assert.deepEqual(patched.merged, { db: { pool: 6, host: 'h' }, cache: { size: 10 } });
    assert.equal(patched.tree.cache, base.tree.cache);
    assert.deepEqual(
      base.merged,
      { db: { pool: 5, host: 'h' }, cache: { size: 10 } },
      'the original is unchanged',
    );
  });

  test('adds and removes leaves; a removed key lets the default show through', () => {
    const defaults = { db: { pool: 10, tls: { on: false } } };
    const keys = { 'db/pool': 5, 'db/host': 'h' };
    const base = built(keys, defaults);
    const patched = patchBuilt(
      base,
      [edit(keys, 'db/pool', undefined), edit(keys, 'db/tls/on', true)],
      defaults,
    );
    assert.deepEqual(patched?.merged, { db: { pool: 10, host: 'h', tls: { on: true } } });
  });

  test('answers undefined where only a rebuild can tell', () => {
    const keys: Record<string, unknown> = { 'db/pool': 5, 'db/host': 'h', solo: 1, 'x/y': 2, obj: { a: 1 } };
    const base = built(keys);
    const cases: [string, Edit][] = [
      ['an object value before', edit(keys, 'obj', 3)],
      ['an object value after', edit(keys, 'solo', { a: 1 })],
      ['a key below a scalar', edit(keys, 'solo/deeper', 1)],
      ['a key where a value sits', edit(keys, 'obj/a', 2)],
      ['a removal leaving an empty object', edit(keys, 'x/y', undefined)],
    ];
    for (const [what, e] of cases) assert.equal(patchBuilt(base, [e], undefined), undefined, what);
  });

  test('agrees with a whole rebuild over random keys, defaults and edits', () => {
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const segment = () => ['a', 'b', 'c', '__proto__'][random(4)]!;
    const path = () => Array.from({ length: 1 + random(3) }, segment).join('/');
    const value = (): unknown => [1, 'x', null, [1, 2], { k: 1 }, true, 2.5][random(7)];
    let patchedCount = 0;
    for (let round = 0; round < 3000; round++) {
      const keys: Record<string, unknown> = {};
      for (let i = random(6); i >= 0; i--) keys[path()] = value();
      const defaults = random(2) === 0 ? undefined : { a: { b: 7, c: { a: 'd' } }, c: 'd' };
      const list = (entries: Record<string, unknown>) =>
        Object.entries(entries).map(([p, v]) => ({ path: p, value: deepFreeze(v) }));
      const before = build(list(keys), [], rules(defaults));
      if (!before.ok) continue;
      const after = { ...keys };
      const edits: Edit[] = [];
      for (let i = random(3); i >= 0; i--) {
        const p = random(2) === 0 && Object.keys(after).length > 0 ? Object.keys(after)[0]! : path();
        if (edits.some((e) => e.segments.join('/') === p)) continue;
        const next = random(3) === 0 ? undefined : value();
        if (next === undefined && !(p in after)) continue;
        edits.push({ segments: p.split('/'), before: keys[p], after: next });
        if (next === undefined) delete after[p];
        else after[p] = next;
      }
      const patched = patchBuilt(
        { tree: before.tree, merged: before.merged },
        edits,
        rules(defaults).defaults,
      );
      if (!patched) continue;
      patchedCount++;
      const rebuilt = build(list(after), [], rules(defaults));
      assert.ok(rebuilt.ok, `a patch for keys that cannot map: ${JSON.stringify({ keys, edits })}`);
      assert.deepEqual(patched.merged, rebuilt.merged, JSON.stringify({ keys, edits, defaults }));
      assert.deepEqual(patched.tree, rebuilt.tree);
    }
    assert.ok(patchedCount > 500, `only ${patchedCount} rounds were patched`);
  });
});
