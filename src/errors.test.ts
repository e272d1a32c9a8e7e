import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConcordError, InvalidArgumentError, isConcordError, LockLostError } from './errors.js';

test('isConcordError recognises every concord error, and with a code only that code', () => {
  const invalid = new InvalidArgumentError('ttl', 'must be an integer >= 2', 1);
  const lost = new LockLostError('gone');
  assert.equal(isConcordError(invalid), true);
  assert.equal(isConcordError(lost), true);
  assert.equal(isConcordError(invalid, 'INVALID_ARGUMENT'), true);
  assert.equal(isConcordError(invalid, 'LOCK_LOST'), false);
  assert.equal(isConcordError(lost, 'LOCK_LOST'), true);
  assert.equal(isConcordError(new ConcordError('CLOSED', 'closed'), 'CLOSED'), true);
});

test('isConcordError checks the brand, not the shape: look-alikes and other values are not concord errors', () => {
  const lookAlike = Object.assign(new Error('x'), { code: 'LOCK_LOST', name: 'LockLostError' });
  for (const value of [lookAlike, { code: 'LOCK_LOST' }, new Error('x'), 'LOCK_LOST', null, undefined, 42]) {
    assert.equal(isConcordError(value), false, String(value));
    assert.equal(isConcordError(value, 'LOCK_LOST'), false, String(value));
  }
});

test('the brand is a registry symbol, so another copy of the package (its other build) shares it', () => {
  const fromOtherCopy = Object.defineProperty(new Error('x'), Symbol.for('concord-etcd.ConcordError'), {
    value: true,
  });
  Object.assign(fromOtherCopy, { code: 'NOT_CONNECTED' });
  assert.equal(isConcordError(fromOtherCopy, 'NOT_CONNECTED'), true);
  assert.equal(fromOtherCopy instanceof ConcordError, false);
});

test('the brand stays out of enumeration, JSON and inspection', () => {
  const err = new LockLostError('gone');
  assert.deepEqual(
    Object.getOwnPropertySymbols(err).filter((s) => Object.getOwnPropertyDescriptor(err, s)?.enumerable),
    [],
  );
  assert.doesNotMatch(JSON.stringify(err), /concord-etcd/);
});
