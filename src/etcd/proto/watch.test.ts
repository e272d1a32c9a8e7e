// The lean WatchResponse decoder against etcd3's own protobuf encoding of the same responses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IWatchResponse } from 'etcd3';
import { etcd3Method, wireKv as kv } from '../../../test/support/etcd3-methods.js';
import { decodeWatchResponse } from './watch.js';

/** What concord reads of a response, as plain data. */
function read(res: Omit<IWatchResponse, 'header'> & { header: { revision: string; member_id: string } }) {
  return {
    // etcd always sends a header; without one etcd3 gives null, the lean decoder revision 0.
    revision: res.header?.revision ?? '0',
    memberId: res.header?.member_id ?? '0',
    watchId: res.watch_id,
    created: res.created,
    canceled: res.canceled,
    compactRevision: res.compact_revision,
    cancelReason: res.cancel_reason,
    fragment: res.fragment,
    events: res.events.map((e) => ({
      type: e.type,
      kv: { ...e.kv, key: e.kv.key.toString('hex'), value: e.kv.value.toString('hex') },
      prev: e.prev_kv ? { ...e.prev_kv, key: e.prev_kv.key.toString('hex') } : null,
    })),
  };
}

// A member id above 2^63, as etcd's random ids often are: a uint64, never read as negative.
const header = {
  cluster_id: '14841639068965178418',
  member_id: '17237436991929493444',
  revision: '1234',
  raft_term: '7',
};

test('decodes what etcd3 decodes: events with kv and prev_kv, int64s past 2^53, flags', async () => {
  const method = await etcd3Method<IWatchResponse>('Watch', 'Watch');
  const responses = [
    {
      header,
      watch_id: '3',
      fragment: true,
      events: [
        { type: 'Put', kv: kv('services/a/1', '{"address":"h:1"}', ['5', '9', '2'], '7587876834578593793') },
        {
          type: 'Delete',
          kv: kv('big', '', ['0', '9007199254740993', '0'], '0'),
          prev_kv: kv('big', 'x', ['562949953421313', '9007199254740992', '3'], '-6787890'),
        },
        { type: 'Put', kv: kv('ünïcode/ключ', 'värde', ['2', '3', '4'], '9223372036854775807') },
      ],
    },
    { header, watch_id: '0', created: true },
    { header, watch_id: '-1', created: true, canceled: true, cancel_reason: 'etcdserver: permission denied' },
    { header, watch_id: '12', canceled: true, compact_revision: '1200' },
    { header: { ...header, revision: '99' }, watch_id: '7' },
    {},
  ];
  for (const response of responses) {
    const bytes = method.responseSerialize(response);
    const expected = read(method.responseDeserialize(bytes));
    assert.deepEqual(read(decodeWatchResponse(bytes)), expected, JSON.stringify(response));
  }
});

test('values are copies, keys views; malformed input throws', async () => {
  const method = await etcd3Method<IWatchResponse>('Watch', 'Watch');
  const bytes = method.responseSerialize({
    header,
    watch_id: '1',
    events: [{ type: 'Put', kv: kv('k', 'v', ['1', '1', '1'], '0') }],
  });
  const res = decodeWatchResponse(bytes);
  const value = res.events[0]!.kv.value;
  bytes.fill(0);
  assert.equal(value.toString(), 'v', 'the value does not change with the response bytes');
  assert.throws(
    () =>
      decodeWatchResponse(
        method
          .responseSerialize({ header, events: [{ kv: kv('k', 'v', ['1', '1', '1'], '0') }] })
          .subarray(0, 20),
      ),
    /truncated|overruns/,
  );
});

test('member ids: each response gives its own, however responses of members interleave', async () => {
  const method = await etcd3Method<IWatchResponse>('Watch', 'Watch');
  // The id in `header`, the one after it (same length, the varints differ in their first byte only),
  // a short one, none (etcd leaves a zero out), and the first again.
  const ids = ['17237436991929493444', '17237436991929493445', '8', '0', '17237436991929493444'];
  for (const member_id of [...ids, ...[...ids].reverse()]) {
    const bytes = method.responseSerialize({ header: { ...header, member_id }, watch_id: '1' });
    assert.equal(decodeWatchResponse(bytes).header.member_id, member_id);
  }
});
