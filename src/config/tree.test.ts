// The key-to-object mapping and the value helpers, on plain data (no etcd involved).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deepEqual, deepMerge } from './data.js';
import { buildTree, decodeValue } from './tree.js';

const tree = (entries: Record<string, unknown>) =>
  buildTree(Object.entries(entries).map(([path, value]) => ({ path, value })));

describe('buildTree', () => {
  test('nests keys by their segments, in any order', () => {
    assert.deepEqual(tree({ 'db/pool': 20, 'db/host': 'h', name: 'n' }), {
      ok: true,
      tree: { db: { pool: 20, host: 'h' }, name: 'n' },
    });
    assert.deepEqual(tree({ 'a/b/c': 1, 'a/b/d': 2, a2: 3 }), {
      ok: true,
      tree: { a: { b: { c: 1, d: 2 } }, a2: 3 },
    });
  });

  test('merges a JSON object value with the keys below it', () => {
    assert.deepEqual(tree({ 'db/pool': 20, db: { host: 'h', tls: { on: true } }, 'db/tls/ca': 'x' }), {
      ok: true,
      tree: { db: { host: 'h', pool: 20, tls: { on: true, ca: 'x' } } },
    });
  });

  test('a scalar or array with keys below it cannot map, and both keys are named', () => {
    for (const parent of [7, 'text', null, [1, 2]]) {
      const result = tree({ db: parent, 'db/pool': 20 });
      assert.equal(result.ok, false);
      if (result.ok) continue;
      assert.deepEqual([...result.paths].sort(), ['db', 'db/pool']);
      assert.match(result.issue, /key 'db\/pool' cannot be placed: key 'db' holds/);
    }
    const deep = tree({ a: 1, 'a/b/c': 2 });
    assert.ok(!deep.ok && deep.issue.includes("key 'a' holds the scalar 1"));
    const inside = tree({ a: { b: 1 }, 'a/b/c': 2 });
    assert.ok(!inside.ok);
    assert.equal(inside.issue, "key 'a/b/c' cannot be placed: key 'a' sets 'a/b' to the scalar 1");
  });

  test('two keys supplying the same leaf cannot map', () => {
    const result = tree({ db: { pool: 1 }, 'db/pool': 2 });
    assert.ok(!result.ok);
    assert.deepEqual([...result.paths].sort(), ['db', 'db/pool']);
    assert.equal(result.issue, "key 'db/pool' cannot be placed: key 'db' already sets 'db/pool'");
  });

  test('empty segments cannot map', () => {
    for (const path of ['', 'a//b', '/a', 'a/']) {
      const result = tree({ [path]: 1 });
      assert.ok(!result.ok, path);
      assert.match(result.issue, /empty path segment/);
    }
  });
});

test('decodeValue: JSON when it parses, else the text', () => {
  assert.equal(decodeValue(Buffer.from('20')), 20);
  assert.equal(decodeValue(Buffer.from('"20"')), '20');
  assert.equal(decodeValue(Buffer.from('true')), true);
  assert.equal(decodeValue(Buffer.from('null')), null);
  assert.deepEqual(decodeValue(Buffer.from('{"a":[1]}')), { a: [1] });
  assert.equal(decodeValue(Buffer.from('billing')), 'billing');
  assert.equal(decodeValue(Buffer.from('{broken')), '{broken');
  assert.equal(decodeValue(Buffer.from('')), '');
});

test('deepMerge: objects merge recursively; scalars, arrays and null replace', () => {
  const base = { a: { x: 1, y: [1, 2] }, b: 1, c: { z: 1 } };
  assert.deepEqual(deepMerge(base, { a: { y: [3] }, c: null, d: 4 }), {
    a: { x: 1, y: [3] },
    b: 1,
    c: null,
    d: 4,
  });
  assert.deepEqual(base, { a: { x: 1, y: [1, 2] }, b: 1, c: { z: 1 } }, 'inputs are not modified');
});

test('deepEqual: structural, key order ignored', () => {
  assert.ok(deepEqual({ a: 1, b: { c: [1, { d: 2 }] } }, { b: { c: [1, { d: 2 }] }, a: 1 }));
  assert.ok(!deepEqual({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!deepEqual({ a: [1, 2] }, { a: [2, 1] }));
  assert.ok(!deepEqual({ a: 1 }, { a: '1' }));
  assert.ok(deepEqual(new Date(5), new Date(5)));
  assert.ok(!deepEqual([], {}));
  assert.ok(deepEqual(Number.NaN, Number.NaN));
});
