import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KeyValue, WatchBatch } from '../watch/types.js';
import { keyReplaced } from './key-replaced.js';

function kv(key: string, createRevision: bigint): KeyValue {
  return {
    key,
    value: Buffer.alloc(0),
    createRevision,
    modRevision: createRevision,
    version: 1n,
    lease: '0',
  };
}

function events(...list: Array<['put' | 'delete', KeyValue]>): WatchBatch {
  return { type: 'events', revision: 9n, events: list.map(([type, kv]) => ({ type, kv })) };
}

test('keyReplaced: a delete or a put under another create revision replaces the key; its own puts do not', () => {
  assert.equal(keyReplaced(events(['delete', kv('m/a', 5n)]), 'm/a', 5n), true);
  assert.equal(keyReplaced(events(['put', kv('m/a', 8n)]), 'm/a', 5n), true);
  assert.equal(keyReplaced(events(['put', kv('m/a', 5n)]), 'm/a', 5n), false);
  assert.equal(keyReplaced(events(['delete', kv('m/b', 6n)]), 'm/a', 5n), false);
  assert.equal(keyReplaced({ type: 'progress', revision: 9n }, 'm/a', 5n), false);
});

test('keyReplaced: a resync replaces the key unless its snapshot holds it with the same create revision', () => {
  const resync = (entries: KeyValue[]): WatchBatch => ({
    type: 'resync',
    revision: 9n,
    compactRevision: 8n,
    snapshot: new Map(entries.map((e) => [e.key, e])),
  });
  assert.equal(keyReplaced(resync([kv('m/a', 5n)]), 'm/a', 5n), false);
  assert.equal(keyReplaced(resync([kv('m/a', 7n)]), 'm/a', 5n), true);
  assert.equal(keyReplaced(resync([]), 'm/a', 5n), true);
});
