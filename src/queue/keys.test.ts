import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LEASE_KEYS, queueSpace, UNIQUE_KEYS } from './keys.js';

test('UNIQUE_KEYS: <prefix><lease id hex>-<n>, a new key every time, even on one lease', () => {
  const a = UNIQUE_KEYS.key('jobs/', '7587882828512455000');
  const b = UNIQUE_KEYS.key('jobs/', '7587882828512455000');
  const lease = BigInt('7587882828512455000').toString(16);
  assert.match(a, new RegExp(`^jobs/${lease}-\\d+$`));
  assert.match(b, new RegExp(`^jobs/${lease}-\\d+$`));
  assert.notEqual(a, b);
});

test('UNIQUE_KEYS.longest: no key made under the prefix is longer', () => {
  const longest = UNIQUE_KEYS.longest('election/e/');
  // The largest lease id etcd grants is a positive int64.
  assert.ok(UNIQUE_KEYS.key('election/e/', (2n ** 63n - 1n).toString()).length <= longest.length);
  assert.ok(longest.startsWith('election/e/'));
});

test("LEASE_KEYS: Go's <prefix><lease id hex>, the same key for every entry of one lease", () => {
  const lease = '7587882828512455000';
  assert.equal(LEASE_KEYS.key('el/', lease), `el/${BigInt(lease).toString(16)}`);
  assert.equal(LEASE_KEYS.key('el/', lease), LEASE_KEYS.key('el/', lease));
  assert.equal(LEASE_KEYS.perLease, true);
  assert.equal(UNIQUE_KEYS.perLease, false);
  assert.ok(LEASE_KEYS.key('el/', (2n ** 63n - 1n).toString()).length <= LEASE_KEYS.longest('el/').length);
});

test('queueSpace: entries are keys on a lease named by that lease id (hex or decimal, optional -n)', () => {
  const lease = '7587882828512455000';
  const hex = BigInt(lease).toString(16);
  const mutex = queueSpace('jobs/');
  assert.equal(mutex.isEntry(UNIQUE_KEYS.key('jobs/', lease), lease), true, "concord's own keys");
  assert.equal(mutex.isEntry(`jobs/${hex}`, lease), true, "etcd's Go recipes and etcdctl lock");
  assert.equal(mutex.isEntry(`jobs/${lease}`, lease), true, "etcd3 npm's Election");
  assert.equal(mutex.isEntry(`jobs/${hex}`, '0'), false, 'no lease: it would never go away');
  assert.equal(mutex.isEntry('jobs/last', lease), false, 'not named by its lease');
  assert.equal(mutex.isEntry('jobs/beef', lease), false, 'hex, but another lease id');
  assert.equal(mutex.isEntry(`jobs/${hex}-x`, lease), false);
  assert.equal(mutex.isEntry(`jobs/sub/${hex}`, lease), false, 'not directly under the prefix');
  assert.equal(mutex.isEntry(`other/${hex}`, lease), false);
  const rw = queueSpace('rw/', ['rw/read/', 'rw/write/']);
  assert.equal(rw.prefix, 'rw/');
  assert.equal(rw.isEntry(`rw/read/${hex}-1`, lease), true);
  assert.equal(rw.isEntry(`rw/write/${hex}-2`, lease), true);
  assert.equal(rw.isEntry(`rw/${hex}-3`, lease), false);
});
