// The lean RangeResponse decoder against etcd3's own protobuf encoding of the same responses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IRangeResponse } from 'etcd3';
import { etcd3Method, wireKv as kv } from '../../../test/support/etcd3-methods.js';
import { decodeRangeResponse } from './range.js';

test('decodes what etcd3 decodes: header revision, keys, values, revisions, versions, leases, more', async () => {
  const method = await etcd3Method<IRangeResponse>('KV', 'Range');
  const response = {
    header: {
      cluster_id: '14841639068965178418',
      member_id: '10276657743932975437',
      revision: '1234',
      raft_term: '7',
    },
    kvs: [
      kv('services/a/1', '{"address":"h:1"}', ['5', '9', '2'], '7587876834578593793'),
      kv('services/a/2', '', ['1', '1', '1'], '0'),
      // Past 2^49 (seven varint bytes) and past 2^53 (where a double is no longer exact).
      kv('big', 'x', ['562949953421313', '9007199254740993', '3'], '-6787890'),
      kv('ünïcode/ключ', 'värde', ['2', '3', '4'], '9223372036854775807'),
    ],
    more: true,
    count: '42',
  };
  const bytes = method.responseSerialize(response);
  const expected = method.responseDeserialize(bytes);
  const page = decodeRangeResponse(bytes);
  assert.equal(page.revision, BigInt(expected.header.revision));
  assert.equal(page.more, expected.more);
  assert.equal(page.kvs.length, expected.kvs.length);
  page.kvs.forEach((got, i) => {
    const want = expected.kvs[i]!;
    assert.deepEqual(got.key, want.key);
    assert.deepEqual(got.value, want.value);
    assert.equal(got.modRevision, BigInt(want.mod_revision), `mod_revision of ${i}`);
    assert.equal(got.createRevision, BigInt(want.create_revision), `create_revision of ${i}`);
    assert.equal(got.version, BigInt(want.version), `version of ${i}`);
    assert.equal(got.lease, String(want.lease), `lease of ${i}`);
  });
  assert.equal(page.kvs[2]!.modRevision, 9007199254740993n);
  assert.equal(page.kvs[2]!.lease, '-6787890');
});

test('an empty response, a response without header, and unknown fields', async () => {
  const method = await etcd3Method<IRangeResponse>('KV', 'Range');
  const empty = decodeRangeResponse(
    method.responseSerialize({ header: { revision: '3' }, kvs: [], more: false }),
  );
  assert.deepEqual(empty, { revision: 3n, kvs: [], more: false });
  assert.deepEqual(decodeRangeResponse(Buffer.alloc(0)), { revision: 0n, kvs: [], more: false });
  const bytes = method.responseSerialize({
    header: { revision: '8' },
    kvs: [kv('k', 'v', ['1', '2', '1'], '0')],
  });
  // Field 15 of each wire type a later etcd might add: varint, fixed64, bytes, fixed32.
  const extra = Buffer.from([
    (15 << 3) | 0,
    0x96,
    0x01,
    (15 << 3) | 1,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    (15 << 3) | 2,
    3,
    0x61,
    0x62,
    0x63,
    (15 << 3) | 5,
    1,
    2,
    3,
    4,
  ]);
  const page = decodeRangeResponse(Buffer.concat([extra, bytes, extra]));
  assert.equal(page.revision, 8n);
  assert.equal(page.kvs[0]!.key.toString(), 'k');
  assert.equal(page.kvs[0]!.modRevision, 2n);
});

test('truncated input is an error, not a wrong answer', async () => {
  const method = await etcd3Method<IRangeResponse>('KV', 'Range');
  const bytes = method.responseSerialize({
    header: { revision: '8' },
    kvs: [kv('key', 'value', ['1', '2', '1'], '0')],
  });
  assert.throws(() => decodeRangeResponse(bytes.subarray(0, bytes.length - 3)), /truncated/);
  // A KeyValue of 3 bytes whose key field claims 5.
  const overrun = Buffer.from([0x12, 0x03, 0x0a, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65]);
  assert.throws(() => decodeRangeResponse(overrun), /overruns its message/);
});
