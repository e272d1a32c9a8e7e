// Equal values among the instances of a catalog are kept once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedValues } from './shared-values.js';

test('equal metas share one deeply frozen object; key order and nesting count', () => {
  const shared = new SharedValues();
  const a = shared.meta(JSON.parse('{"zone":"a","tags":["x",{"y":1}]}'));
  const b = shared.meta(JSON.parse('{"zone":"a","tags":["x",{"y":1}]}'));
  assert.equal(b, a);
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.tags) && Object.isFrozen((a.tags as object[])[1]));
  assert.notEqual(shared.meta(JSON.parse('{"tags":["x",{"y":1}],"zone":"a"}')), a, 'another key order');
  assert.notEqual(shared.meta(JSON.parse('{"zone":"a","tags":["x",{"y":2}]}')), a);
  assert.notEqual(shared.meta(JSON.parse('{"zone":"a","tags":["x"]}')), a);
  assert.notEqual(shared.meta({ zone: 'a', tags: { 0: 'x', 1: { y: 1 } } }), a, 'an object is no array');
  assert.equal(shared.meta(JSON.parse('{"zone":"a","tags":["x",{"y":1}]}')), a, 'still remembered');
});

test('only the last few distinct metas are remembered; the ones in use stay in front', () => {
  const shared = new SharedValues();
  const first = shared.meta({ zone: 'z0' });
  for (let i = 1; i <= 20; i++) {
    shared.meta({ zone: `z${i}` });
    assert.equal(shared.meta({ zone: 'z0' }), first, 'matched every time, so never evicted');
  }
  const old = shared.meta({ zone: 'z1' });
  for (let i = 100; i < 120; i++) shared.meta({ zone: `z${i}` });
  assert.notEqual(shared.meta({ zone: 'z1' }), old, 'evicted after 20 other metas');
});

test('a string or revision equal to the last one is that one', () => {
  const shared = new SharedValues();
  const at = shared.string(['2025-01-01T00:00:00', '000Z'].join('.'));
  assert.equal(shared.string('2025-01-01T00:00:00.000Z'), at);
  assert.equal(shared.string('2025-01-01T00:00:01.000Z'), '2025-01-01T00:00:01.000Z');
  assert.equal(shared.revision(5n), 5n);
  assert.equal(shared.revision(5n), 5n);
  assert.equal(shared.revision(6n), 6n);
});
