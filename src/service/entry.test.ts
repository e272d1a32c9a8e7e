// One key under the registry prefix, parsed once per write into a frozen entry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entryOf, isInstance } from './entry.js';

test('a valid value gives a frozen instance carrying its key and revision', () => {
  const entry = entryOf(
    'svc/user/i1',
    Buffer.from('{"address":"h:1","meta":{"zone":"a"}}'),
    7n,
    'svc/',
    'user',
  );
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
});

test('an invalid value gives a frozen error holding a copy of the value', () => {
  // A value inside a larger buffer, as values of a range read are.
  const page = Buffer.from('xx{"address":yy');
  const value = page.subarray(2, 13);
  const entry = entryOf('svc/user/i1', value, 9n, 'svc/', undefined);
  assert.ok(!isInstance(entry));
  assert.equal(entry.key, 'svc/user/i1');
  assert.equal(entry.revision, 9n);
  assert.match(entry.message, /neither JSON/);
  assert.deepEqual(entry.value, value);
  page[2] = 0x41;
  assert.equal(entry.value.toString(), '{"address":', 'a copy: the page is not kept alive');
  assert.ok(Object.isFrozen(entry));
  assert.equal(isInstance(undefined), false);
});

test('bytes that are not UTF-8 are rejected; a genuine U+FFFD is text like any other', () => {
  const invalid = entryOf('svc/s/a', Buffer.from([0x68, 0xff, 0x3a, 0x31]), 1n, 'svc/', 's');
  assert.ok(!isInstance(invalid));
  assert.equal(invalid.message, 'value is not UTF-8 text');
  const replacement = entryOf(
    'svc/s/a',
    Buffer.from('{"address":"h:1","meta":{"note":"\uFFFD"}}'),
    1n,
    'svc/',
    's',
  );
  assert.ok(isInstance(replacement));
  assert.deepEqual(replacement.meta, { note: '\uFFFD' });
});

test('keys: the id is one segment; without a service the key must be <base><service>/<id>', () => {
  const value = Buffer.from('h:1');
  const whole = entryOf('svc/user/i1', value, 1n, 'svc/', undefined);
  assert.ok(isInstance(whole));
  assert.deepEqual([whole.service, whole.id], ['user', 'i1']);
  for (const key of ['svc/user', 'svc//i1', 'svc/user/i1/x', 'svc/user/']) {
    const entry = entryOf(key, value, 1n, 'svc/', undefined);
    assert.ok(!isInstance(entry), key);
    assert.match(entry.message, /^key does not have the shape svc\/<service>\/<id>/, key);
  }
  const nested = entryOf('svc/user/i1/x', value, 1n, 'svc/', 'user');
  assert.ok(!isInstance(nested));
});
