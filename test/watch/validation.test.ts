// Bad input to the hub fails at the call, naming the argument, before anything is opened.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord } from '../../src/concord.js';
import { InvalidArgumentError } from '../../src/errors.js';
import type { ConcordOptions } from '../../src/options.js';
import type { WatchRange } from '../../src/watch/types.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';
import { collect, watchGauges } from './helpers.js';

const shared = useCluster({ concord: {} });

function rejects(call: () => unknown, argument: string): void {
  assert.throws(call, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.argument, argument);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.ok(err.message.startsWith(argument));
    return true;
  });
}

// Deliberately ill-typed inputs, as JavaScript callers could pass them.
const bad = <T>(value: unknown): T => value as T;

test('watch() rejects malformed ranges', () => {
  rejects(() => shared.concord.watch(bad(undefined)), 'range');
  rejects(() => shared.concord.watch(bad(null)), 'range');
  rejects(() => shared.concord.watch(bad('a/')), 'range');
  rejects(() => shared.concord.watch(bad(['a/'])), 'range');
  rejects(() => shared.concord.watch(bad({})), 'range.key');
  rejects(() => shared.concord.watch({ key: '' }), 'range.key');
  rejects(() => shared.concord.watch(bad({ key: 7 })), 'range.key');
  rejects(() => shared.concord.watch(bad({ prefix: 7 })), 'range.prefix');
  rejects(() => shared.concord.watch(bad({ prefix: 'a/', key: 'a' })), 'range.key');
  rejects(() => shared.concord.watch(bad({ key: 'a', revision: 1n })), 'range.revision');
});

test('watch() rejects malformed options', () => {
  const range: WatchRange = { prefix: 'v/' };
  rejects(() => shared.concord.watch(range, bad('now')), 'options');
  rejects(() => shared.concord.watch(range, { fromRevision: 0n }), 'options.fromRevision');
  rejects(() => shared.concord.watch(range, { fromRevision: -3n }), 'options.fromRevision');
  rejects(() => shared.concord.watch(range, bad({ fromRevision: 5 })), 'options.fromRevision');
  rejects(() => shared.concord.watch(range, bad({ prevKv: 'yes' })), 'options.prevKv');
  rejects(() => shared.concord.watch(range, bad({ startRevision: 5n })), 'options.startRevision');
});

test('watchIterator() and view() reject malformed input', () => {
  rejects(() => shared.concord.watchIterator({ prefix: 'v/' }, { maxBuffered: 0 }), 'options.maxBuffered');
  rejects(() => shared.concord.watchIterator({ prefix: 'v/' }, { maxBuffered: 1.5 }), 'options.maxBuffered');
  rejects(
    () => shared.concord.watchIterator({ prefix: 'v/' }, bad({ overflow: 'drop' })),
    'options.overflow',
  );
  rejects(() => shared.concord.watchIterator({ prefix: 'v/' }, bad({ signal: 1 })), 'options.signal');
  rejects(() => shared.concord.watchIterator({ key: '' }), 'range.key');
  rejects(() => shared.concord.view(bad(undefined)), 'range');
  rejects(() => shared.concord.view(bad({})), 'range.prefix');
  rejects(() => shared.concord.view(bad({ prefix: 1 })), 'range.prefix');
  rejects(() => shared.concord.view(bad({ key: 'a' })), 'range.key');
});

test('new Concord() rejects bad watch tunables', () => {
  const make = (watch: unknown) => () =>
    new Concord(bad<ConcordOptions>({ endpoints: shared.cluster.endpoints, watch }));
  rejects(make({ stallTimeoutMs: 50 }), 'options.watch.stallTimeoutMs');
  rejects(make({ stallTimeoutMs: '1s' }), 'options.watch.stallTimeoutMs');
  rejects(make({ pageSize: 0 }), 'options.watch.pageSize');
  rejects(make({ pageSize: 1e6 }), 'options.watch.pageSize');
  rejects(make({ maxBuffered: 0 }), 'options.watch.maxBuffered');
  rejects(make({ bufferSize: 10 }), 'options.watch.bufferSize');
});

test('rejected calls open nothing; watchStats() counts what is open', async () => {
  const before = await watchGauges(shared.cluster.members[0]!);
  for (const call of [
    () => shared.concord.watch(bad({ prefix: 1 })),
    () => shared.concord.view(bad({})),
    () => shared.concord.watchIterator({ prefix: 'v/' }, { maxBuffered: 0 }),
  ]) {
    assert.throws(call, InvalidArgumentError);
  }
  assert.deepEqual(shared.concord.watchStats(), { streams: 0, upstreamWatches: 0, subscribers: 0 });
  // A cold Observable opens nothing until subscribed.
  const cold = shared.concord.watch({ prefix: 'v/' });
  assert.deepEqual(shared.concord.watchStats(), { streams: 0, upstreamWatches: 0, subscribers: 0 });
  const a = collect(cold);
  const b = collect(shared.concord.watch({ prefix: 'v/' }, { prevKv: true }));
  const iterator = shared.concord.watchIterator({ prefix: 'v/' });
  await waitUntil(() => a.batches.length === 1 && b.batches.length === 1);
  assert.deepEqual(shared.concord.watchStats(), { streams: 1, upstreamWatches: 2, subscribers: 3 });
  assert.deepEqual(await watchGauges(shared.cluster.members[0]!), {
    watchers: before.watchers + 2,
    streams: before.streams + 1,
  });
  a.subscription.unsubscribe();
  b.subscription.unsubscribe();
  assert.deepEqual(shared.concord.watchStats(), { streams: 1, upstreamWatches: 1, subscribers: 1 });
  await iterator.return?.();
  assert.deepEqual(shared.concord.watchStats(), { streams: 0, upstreamWatches: 0, subscribers: 0 });
});
