// The discovery projection: one parsed, frozen entry per write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KeyValue } from '../watch/types.js';
import { entryProjection, isInstance } from './entry.js';

function kv(key: string, value: string | Buffer, modRevision = 7n): KeyValue {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return { key, value: bytes, createRevision: 1n, modRevision, version: 1n, lease: '0' };
}

test('a valid value projects to a frozen instance carrying its revision', () => {
  const projection = entryProjection('svc/', 'user');
  const entry = projection.project(kv('svc/user/i1', '{"address":"h:1","meta":{"zone":"a"}}'));
  assert.ok(isInstance(entry));
  assert.deepEqual(entry, {
    service: 'user',
    id: 'i1',
    address: 'h:1',
    meta: { zone: 'a' },
    status: 'serving',
    key: 'svc/user/i1',
    revision: 7n,
  });
  assert.ok(Object.isFrozen(entry));
  assert.equal(projection.revisionOf(entry), 7n);
});

test('an invalid value projects to a frozen error holding a copy of the value', () => {
  const projection = entryProjection('svc/', undefined);
  // A value inside a larger buffer, as values of a range read are.
  const page = Buffer.from('xx{"address":yy');
  const value = page.subarray(2, 13);
  const entry = projection.project(kv('svc/user/i1', value, 9n));
  assert.ok(!isInstance(entry));
  assert.equal(entry.key, 'svc/user/i1');
  assert.equal(entry.revision, 9n);
  assert.match(entry.message, /neither JSON/);
  assert.deepEqual(entry.value, value);
  page[2] = 0x41;
  assert.equal(entry.value.toString(), '{"address":', 'a copy: the page is not kept alive');
  assert.ok(Object.isFrozen(entry));
  assert.equal(projection.revisionOf(entry), 9n);
  assert.equal(isInstance(undefined), false);
});

test('the id tells a service range from a prefix that spells the same range', () => {
  assert.notEqual(entryProjection('a/', 'b').id, entryProjection('a/b/', undefined).id);
  assert.equal(entryProjection('a/', 'b').id, entryProjection('a/', 'b').id);
});
