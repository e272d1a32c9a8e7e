// The guarded read's Txn on the wire, against etcd3's own protobuf encoding: what concord writes
// is what etcd3 reads back, and concord reads etcd3's encoding of the answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ITxnResponse } from 'etcd3';
import { etcd3Method, wireKv as kv } from '../../../test/support/etcd3-methods.js';
import { encodeLeaseRevoke } from './lease.js';
import { rangeRequest } from './range.js';
import { decodeGuardedRead, encodeGuardedRead } from './txn.js';

const header = { cluster_id: '1', member_id: '2', revision: '9007199254740993', raft_term: '3' };

test('a guarded read is the Txn etcd3 would send: compare create revision, then the range', async () => {
  const method = await etcd3Method('KV', 'Txn');
  const bytes = encodeGuardedRead(
    { key: Buffer.from('election/e/694d'), createRevision: 9007199254740993n },
    {
      key: Buffer.from('election/e/'),
      rangeEnd: Buffer.from('election/e0'),
      limit: 1,
      maxCreateRevision: 9007199254740992n,
      newestFirst: true,
      keysOnly: true,
    },
  );
  const read = method.requestDeserialize(bytes) as {
    compare: Array<Record<string, unknown>>;
    success: Array<{ request_range: Record<string, unknown> }>;
    failure: unknown[];
  };
  assert.equal(read.compare.length, 1);
  assert.deepEqual(
    { ...read.compare[0], key: String(read.compare[0]!.key) },
    {
      result: 'Equal',
      target: 'Create',
      key: 'election/e/694d',
      range_end: Buffer.alloc(0),
      create_revision: '9007199254740993',
      target_union: 'create_revision',
    },
  );
  const range = read.success[0]!.request_range;
  assert.equal(String(range.key), 'election/e/');
  assert.equal(String(range.range_end), 'election/e0');
  assert.equal(range.limit, '1');
  assert.equal(range.sort_order, 'Descend');
  assert.equal(range.sort_target, 'Create');
  assert.equal(range.keys_only, true);
  assert.equal(range.max_create_revision, '9007199254740992');
  assert.equal(range.revision, '0');
  assert.equal(read.success.length, 1);
  assert.deepEqual(read.failure, []);
});

test('a range request leaves out what is not asked for', async () => {
  const method = await etcd3Method('KV', 'Range');
  const read = method.requestDeserialize(
    rangeRequest({ key: Buffer.from('a'), revision: 42n }).finish(),
  ) as Record<string, unknown>;
  assert.equal(String(read.key), 'a');
  assert.equal(String(read.range_end), '');
  assert.equal(read.revision, '42');
  assert.equal(read.limit, '0');
  assert.equal(read.sort_order, 'None');
  assert.equal(read.keys_only, false);
});

test('reads the answer etcd3 encodes: revision, verdict, the range read (or none)', async () => {
  const method = await etcd3Method<ITxnResponse>('KV', 'Txn');
  const held = decodeGuardedRead(
    method.responseSerialize({
      header,
      succeeded: true,
      responses: [
        {
          response_range: {
            header,
            kvs: [kv('election/e/1', '', ['562949953421313', '562949953421313', '1'], '7587876834578593793')],
            more: true,
            count: '3',
          },
        },
      ],
    }),
  );
  assert.equal(held.revision, 9007199254740993n);
  assert.equal(held.succeeded, true);
  assert.equal(held.range?.more, true);
  assert.equal(held.range?.kvs.length, 1);
  const [first] = held.range?.kvs ?? [];
  assert.equal(String(first?.key), 'election/e/1');
  assert.equal(first?.createRevision, 562949953421313n);
  assert.equal(first?.lease, '7587876834578593793');

  const gone = decodeGuardedRead(method.responseSerialize({ header, succeeded: false, responses: [] }));
  assert.deepEqual(gone, { revision: 9007199254740993n, succeeded: false, range: undefined });
});

test('a lease revoke carries the id etcd3 would send, past 2^53 too', async () => {
  const method = await etcd3Method('Lease', 'LeaseRevoke');
  for (const id of ['1', '7587876834578593793', '9223372036854775807']) {
    assert.deepEqual(method.requestDeserialize(encodeLeaseRevoke(id)), { ID: id });
  }
});
