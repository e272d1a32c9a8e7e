import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KeyValue } from '../watch/types.js';
import { lockQueue } from './lock-queue.js';

const kv = (key: string, createRevision: bigint): KeyValue => ({
  key,
  value: Buffer.alloc(0),
  createRevision,
  modRevision: createRevision,
  version: 1n,
  lease: '7',
});

const standing = (entries: KeyValue[], permits = 1) =>
  lockQueue('l', entries, permits, new Map(), 0, true).map((e) => `${e.key}:${e.holding ? 'H' : 'w'}`);

test('a mutex: the oldest key holds, the rest wait in create-revision order', () => {
  assert.deepEqual(standing([kv('l/c-3', 30n), kv('l/a-1', 10n), kv('l/b-2', 20n)]), [
    'l/a-1:H',
    'l/b-2:w',
    'l/c-3:w',
  ]);
});

test('a semaphore: the oldest `permits` keys hold', () => {
  assert.deepEqual(standing([kv('l/a', 1n), kv('l/b', 2n), kv('l/c', 3n)], 2), ['l/a:H', 'l/b:H', 'l/c:w']);
});

test('a read-write lock: readers hold until an older writer; a writer holds only at the front', () => {
  const entries = [kv('l/read/a', 1n), kv('l/read/b', 2n), kv('l/write/c', 3n), kv('l/read/d', 4n)];
  assert.deepEqual(standing(entries), ['l/read/a:H', 'l/read/b:H', 'l/write/c:w', 'l/read/d:w']);
  assert.deepEqual(standing([kv('l/write/c', 3n), kv('l/read/d', 4n)]), ['l/write/c:H', 'l/read/d:w']);
  assert.deepEqual(
    lockQueue('l', entries, 1, new Map(), 0, true).map((e) => e.kind),
    ['read', 'read', 'write', 'read'],
  );
});

test('first seen: kept across calls, marked when present at the start, forgotten when gone', () => {
  const seen = new Map<string, { since: number; sinceStart: boolean }>();
  lockQueue('l', [kv('l/a', 1n)], 1, seen, 100, true);
  const later = lockQueue('l', [kv('l/a', 1n), kv('l/b', 2n)], 1, seen, 200, false);
  assert.deepEqual(
    later.map((e) => [e.key, e.since, e.sinceStart]),
    [
      ['l/a', 100, true],
      ['l/b', 200, false],
    ],
  );
  lockQueue('l', [kv('l/b', 2n)], 1, seen, 300, false);
  assert.deepEqual([...seen.keys()], ['l/b']);
});
