import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KeyValue } from '../watch/types.js';
import { configTree } from './config-tree.js';

const kv = (key: string, value: string): KeyValue => ({
  key,
  value: Buffer.from(value),
  createRevision: 1n,
  modRevision: 1n,
  version: 1n,
  lease: '0',
});

test('keys map to one nested value; JSON values are parsed, others are strings', () => {
  const tree = configTree('app/', [
    kv('app/db/pool', '20'),
    kv('app/db/host', 'db.local'),
    kv('app/flags', '{"a":true}'),
  ]);
  assert.deepEqual(tree, { value: { db: { pool: 20, host: 'db.local' }, flags: { a: true } }, invalid: [] });
});

test('each key that cannot be placed is left out and named with its reason; the rest still maps', () => {
  const tree = configTree('app/', [
    kv('app/db/pool', '20'),
    kv('app/db/pool/max', '3'),
    kv('app/a//b', '1'),
    kv('app/name', '"x"'),
  ]);
  assert.deepEqual(tree.value, { db: { pool: 20 }, name: 'x' });
  assert.deepEqual(
    tree.invalid.map((i) => i.path),
    ['a//b', 'db/pool/max'],
  );
  assert.match(tree.invalid[1]!.issue, /key 'db\/pool' holds the scalar 20/);
});
