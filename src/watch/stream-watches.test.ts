// StreamWatches: ids on the current stream and which upstream a response is for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IWatchResponse } from 'etcd3';
import { StreamWatches } from './stream-watches.js';
import { Upstream } from './upstream.js';

const upstream = () => new Upstream({ key: Buffer.from('k') }, false, undefined, 3n);
const response = (fields: Partial<IWatchResponse>) => ({ events: [], ...fields }) as IWatchResponse;

test('each upstream gets a new id and a create request resuming it', () => {
  const watches = new StreamWatches();
  const a = upstream();
  const b = upstream();
  assert.equal(watches.add(a).watch_id, '1');
  assert.equal(watches.add(b).watch_id, '2');
  assert.equal(a.watchId, '1');
  assert.equal(watches.size, 2);
  assert.equal(watches.route(response({ watch_id: '2' })), b);
  assert.equal(watches.route(response({ watch_id: '-1' })), undefined, 'progress answers belong to no watch');
});

test("etcd 3.4's refused create (id -1) belongs to the oldest create not answered yet", () => {
  const watches = new StreamWatches();
  const a = upstream();
  const b = upstream();
  const c = upstream();
  watches.add(a);
  watches.add(b);
  watches.add(c);
  assert.equal(watches.route(response({ watch_id: '1', created: true })), a);
  assert.equal(watches.route(response({ watch_id: '-1', created: true, canceled: true })), b);
  assert.equal(watches.route(response({ watch_id: '-1', created: true, canceled: true })), c);
});

test('remove() and clear() unregister: the upstreams lose their ids', () => {
  const watches = new StreamWatches();
  const a = upstream();
  const b = upstream();
  watches.add(a);
  watches.add(b);
  assert.equal(watches.remove(a), '1');
  assert.equal(watches.remove(a), undefined);
  assert.equal(watches.route(response({ watch_id: '1' })), undefined);
  watches.clear();
  assert.equal(b.watchId, undefined);
  assert.equal(watches.size, 0);
  assert.equal(watches.add(a).watch_id, '3', 'ids are never reused');
});
