// The watch stream's requests on the wire, against etcd3's own protobuf decoding of them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { etcd3Method } from '../../../test/support/etcd3-methods.js';
import { encodeWatchRequest } from './watch-request.js';

type Read = {
  request_union: string;
  create_request?: Record<string, unknown>;
  cancel_request?: { watch_id: string };
};

test('creates, cancels and progress requests read back as etcd3 would have sent them', async () => {
  const method = await etcd3Method('Watch', 'Watch');
  const read = (request: Parameters<typeof encodeWatchRequest>[0]) =>
    method.requestDeserialize(encodeWatchRequest(request)) as Read;

  const create = read({
    create_request: {
      key: Buffer.from('locks/a/'),
      range_end: Buffer.from('locks/a0'),
      start_revision: '9007199254740993',
      progress_notify: true,
      filters: ['Noput', 1],
      prev_kv: true,
      watch_id: '41',
      fragment: true,
    },
  });
  assert.equal(create.request_union, 'create_request');
  const c = create.create_request!;
  assert.equal(String(c.key), 'locks/a/');
  assert.equal(String(c.range_end), 'locks/a0');
  assert.equal(c.start_revision, '9007199254740993');
  assert.equal(c.progress_notify, true);
  assert.deepEqual(c.filters, ['Noput', 'Nodelete']);
  assert.equal(c.prev_kv, true);
  assert.equal(c.watch_id, '41');
  assert.equal(c.fragment, true);

  const bare = read({ create_request: { key: Buffer.from('k'), start_revision: '0', watch_id: '0' } });
  assert.equal(bare.create_request!.start_revision, '0');
  assert.equal(bare.create_request!.watch_id, '0');
  assert.equal(bare.create_request!.prev_kv, false);

  // Watch id 0 is a real id: the cancel is still a cancel (an empty message in the oneof).
  for (const id of ['0', '7', '9223372036854775807']) {
    const cancel = read({ cancel_request: { watch_id: id } });
    assert.equal(cancel.request_union, 'cancel_request');
    assert.equal(cancel.cancel_request!.watch_id, id);
  }
  assert.equal(read({ progress_request: {} }).request_union, 'progress_request');
});
