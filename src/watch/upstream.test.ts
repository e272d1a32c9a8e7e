// Upstream without etcd: what it delivers from the responses the hub hands it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IEvent } from 'etcd3';
import { Keyspace } from '../core/keys.js';
import type { KeyValue, WatchBatch } from './types.js';
import { type Sink, Upstream } from './upstream.js';

const keys = new Keyspace('ns/');
const range = { key: keys.key('a/'), rangeEnd: keys.key('a0') };

function put(key: string, revision: number, value = `v${revision}`): IEvent {
  return {
    type: 'Put',
    kv: {
      key: keys.key(key),
      value: Buffer.from(value),
      create_revision: String(revision),
      mod_revision: String(revision),
      version: '1',
      lease: '0',
    },
  } as IEvent;
}

/** A sink that records what it gets as short lines: `events 7 a/x a/y`, `progress 5`, `resync 9`. */
function recorder(from: bigint): Sink & { lines: string[] } {
  const lines: string[] = [];
  const line = (batch: WatchBatch): string =>
    batch.type === 'events'
      ? `events ${batch.revision} ${batch.events.map((e) => e.kv.key).join(' ')}`
      : `${batch.type} ${batch.revision}`;
  return {
    from,
    lines,
    next: (batch) => lines.push(line(batch)),
    error: (err) => lines.push(`error ${String(err)}`),
    complete: () => lines.push('complete'),
  };
}

test('fragments of one response are joined, then delivered one batch per revision', () => {
  const up = new Upstream(range, false, undefined, 1n);
  const sink = recorder(1n);
  up.add(sink);
  up.onEvents(keys, [put('a/x', 3), put('a/y', 3)], true);
  up.onEvents(keys, [put('a/z', 3)], true);
  assert.deepEqual(sink.lines, [], 'nothing before the last fragment');
  up.onEvents(keys, [put('a/w', 3), put('a/x', 4)], false);
  assert.deepEqual(sink.lines, ['events 3 a/x a/y a/z a/w', 'events 4 a/x']);
  assert.equal(up.lastRevision, 4n);
});

test('a new create request drops fragments of the watch it replaces', () => {
  const up = new Upstream(range, false, undefined, 1n);
  const sink = recorder(1n);
  up.add(sink);
  up.onEvents(keys, [put('a/x', 3)], true);
  up.createRequest('2');
  up.onEvents(keys, [put('a/y', 3)], false);
  assert.deepEqual(sink.lines, ['events 3 a/y']);
});

test('revisions at or below the last delivered one are dropped', () => {
  const up = new Upstream(range, false, undefined, 6n);
  const sink = recorder(6n);
  up.add(sink);
  up.onEvents(keys, [put('a/old', 5), put('a/x', 6)], false);
  up.onEvents(keys, [put('a/x', 6), put('a/y', 7)], false);
  up.onEvents(keys, [put('a/y', 7)], false);
  assert.deepEqual(sink.lines, ['events 6 a/x', 'events 7 a/y']);
  assert.equal(up.createRequest('9').start_revision, '8', 'resumes right after what it delivered');
});

test('progress only moves forward, and only once the start is known', () => {
  const unpositioned = new Upstream(range, false, undefined, undefined);
  const early = recorder(1n);
  unpositioned.add(early);
  unpositioned.onProgress(4n);
  assert.deepEqual(early.lines, [], 'no progress before the watch knows where it starts');
  assert.equal(unpositioned.createRequest('1').start_revision, '0');

  const up = new Upstream(range, false, undefined, 5n);
  const sink = recorder(1n);
  up.add(sink);
  up.onProgress(4n);
  up.onProgress(6n);
  up.onProgress(6n);
  up.onProgress(5n);
  up.onProgress(8n);
  assert.deepEqual(sink.lines, ['progress 6', 'progress 8']);
});

test('"from now" sinks are told their start revision exactly once', () => {
  const up = new Upstream(range, false, 'shared', undefined);
  const first = recorder(0n);
  up.add(first);
  assert.deepEqual(first.lines, [], 'the start is not known yet');
  up.onCreated(10n);
  up.onCreated(12n);
  assert.deepEqual(first.lines, ['progress 10'], 're-creating the watch announces nothing');
  const late = recorder(0n);
  up.add(late);
  assert.deepEqual(late.lines, ['progress 10'], 'a late "from now" sink learns it at once');
  up.onEvents(keys, [put('a/x', 11)], false);
  assert.deepEqual(late.lines, ['progress 10', 'events 11 a/x']);
  assert.equal(up.createRequest('2').start_revision, '12');
});

test('a sink removed before the start is known is not announced', () => {
  const up = new Upstream(range, false, undefined, undefined);
  const gone = recorder(0n);
  const stays = recorder(0n);
  up.add(gone);
  up.add(stays);
  assert.equal(up.remove(gone), 1);
  up.onCreated(3n);
  assert.deepEqual(gone.lines, []);
  assert.deepEqual(stays.lines, ['progress 3']);
});

test('each sink gets batches from its own starting revision on', () => {
  const up = new Upstream(range, false, undefined, 2n);
  const all = recorder(2n);
  const later = recorder(4n);
  up.add(all);
  up.add(later);
  up.onEvents(keys, [put('a/x', 2), put('a/x', 3), put('a/x', 4)], false);
  up.onProgress(5n);
  assert.deepEqual(all.lines, ['events 2 a/x', 'events 3 a/x', 'events 4 a/x', 'progress 5']);
  assert.deepEqual(later.lines, ['events 4 a/x', 'progress 5']);
});

test('a resync reaches every sink and the watch continues after its revision', () => {
  const up = new Upstream(range, false, undefined, 2n);
  const early = recorder(2n);
  const ahead = recorder(50n);
  up.add(early);
  up.add(ahead);
  const signal = up.startResync();
  assert.equal(up.resyncing, true);
  const snapshot = new Map<string, KeyValue>();
  up.onResync(20n, snapshot, 15n);
  assert.equal(up.resyncing, false);
  assert.equal(signal.aborted, false);
  assert.deepEqual(early.lines, ['resync 20']);
  assert.deepEqual(ahead.lines, ['resync 20'], 'a resync is delivered whatever the sink started from');
  up.onEvents(keys, [put('a/x', 20), put('a/x', 21)], false);
  assert.deepEqual(early.lines, ['resync 20', 'events 21 a/x']);
  assert.equal(up.createRequest('3').start_revision, '22');
});

test('dropping an upstream aborts its re-read', () => {
  const up = new Upstream(range, false, undefined, 2n);
  const signal = up.startResync();
  up.abortResync();
  assert.equal(signal.aborted, true);
  assert.equal(up.resyncing, false);
});

test('events carry keys without the namespace, and previous values when asked', () => {
  const up = new Upstream(range, true, undefined, 1n);
  let got: WatchBatch | undefined;
  up.add({ from: 1n, next: (b) => (got = b), error: () => undefined, complete: () => undefined });
  const event = { ...put('a/x', 4, 'new'), type: 'Delete', prev_kv: put('a/x', 3, 'old').kv } as IEvent;
  up.onEvents(keys, [event], false);
  assert.equal(got?.type, 'events');
  if (got?.type !== 'events') return;
  const [only] = got.events;
  assert.equal(only?.type, 'delete');
  assert.equal(only?.kv.key, 'a/x');
  assert.equal(only?.prev?.value.toString(), 'old');
  assert.equal(only?.prev?.modRevision, 3n);
  assert.equal(up.createRequest('1').prev_kv, true);
});
