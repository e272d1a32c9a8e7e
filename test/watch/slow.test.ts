// Slow consumers never hold up the hub or anyone else; watchIterator bounds what it buffers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concatMap, delay, of } from 'rxjs';
import { SlowConsumerError } from '../../src/errors.js';
import type { WatchBatch } from '../../src/watch/types.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';
import { collect, eventLines, nextWithin, within } from './helpers.js';

const shared = useCluster({ concord: {} });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Puts `count` values one by one, each only after `fast` received the previous one; returns put-to-delivery latencies. */
async function putAndMeasure(prefix: string, count: number, fast: WatchBatch[]): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const seen = fast.length;
    const started = performance.now();
    await shared.cluster.client().put(`${prefix}${i}`).value(String(i));
    await waitUntil(() => fast.length > seen, { intervalMs: 1, message: `delivery of put ${i}` });
    latencies.push(performance.now() - started);
  }
  return latencies.sort((a, b) => a - b);
}

test('a subscriber taking 200 ms per batch does not delay another subscriber of the same range', async (t) => {
  const fast: WatchBatch[] = [];
  const fastSub = shared.concord.watch({ prefix: 'sl/' }).subscribe((b) => {
    if (b.type === 'events') fast.push(b);
  });
  await waitUntil(() => shared.concord.watchStats().upstreamWatches === 1);
  await putAndMeasure('sl/warm', 5, fast);
  const baseline = await putAndMeasure('sl/base', 20, fast);

  const slowDone: WatchBatch[] = [];
  const slowSub = shared.concord
    .watch({ prefix: 'sl/' })
    .pipe(concatMap((b) => of(b).pipe(delay(200))))
    .subscribe((b) => {
      if (b.type === 'events') slowDone.push(b);
    });
  const fastBefore = fast.length;
  const withSlow = await putAndMeasure('sl/x', 20, fast);
  // Causality: the fast subscriber had all 20 while the slow one had worked through few of them.
  assert.equal(fast.length - fastBefore, 20);
  assert.ok(slowDone.length <= 5, `slow subscriber already finished ${slowDone.length} batches`);
  await waitUntil(() => slowDone.length === 20, {
    timeoutMs: 15_000,
    message: 'the slow subscriber catching up',
  });
  assert.deepEqual(eventLines(slowDone), eventLines(fast.slice(fastBefore)));
  t.diagnostic(
    `put-to-delivery ms, alone: p50 ${percentile(baseline, 50).toFixed(2)} max ${baseline.at(-1)!.toFixed(2)}; ` +
      `beside a 200 ms/batch subscriber: p50 ${percentile(withSlow, 50).toFixed(2)} max ${withSlow.at(-1)!.toFixed(2)}`,
  );
  // Generous: a blocked hub would need 200 ms per put.
  assert.ok(percentile(withSlow, 50) < 100, `p50 ${percentile(withSlow, 50)} ms`);
  fastSub.unsubscribe();
  slowSub.unsubscribe();
});

test('a slow watchIterator does not delay an Observable subscriber', async () => {
  const fast: WatchBatch[] = [];
  const sub = shared.concord.watch({ prefix: 'si/' }).subscribe((b) => {
    if (b.type === 'events') fast.push(b);
  });
  const iterator = shared.concord.watchIterator({ prefix: 'si/' });
  const consumed: WatchBatch[] = [];
  const consumer = (async () => {
    for await (const batch of iterator) {
      consumed.push(batch);
      await new Promise((r) => setTimeout(r, 200));
      if (consumed.filter((b) => b.type === 'events').length === 10) break;
    }
  })();
  await waitUntil(() => shared.concord.watchStats().upstreamWatches === 1 && consumed.length === 1);
  await putAndMeasure('si/', 10, fast);
  assert.ok(consumed.length <= 3, `iterator consumer already took ${consumed.length}`);
  await within(consumer, 15_000, 'end of the slow consumer');
  assert.deepEqual(eventLines(consumed), eventLines(fast));
  assert.equal(shared.concord.watchStats().subscribers, 1, 'break ended the iterator');
  sub.unsubscribe();
});

test("watchIterator overflow 'error': buffered batches, then SlowConsumerError, and the watch is released", async () => {
  const iterator = shared.concord.watchIterator({ prefix: 'oe/' }, { maxBuffered: 5, overflow: 'error' });
  await waitUntil(() => shared.concord.watchStats().upstreamWatches === 1);
  const first = await nextWithin(iterator);
  assert.equal(first.value?.type, 'progress');
  for (let i = 0; i < 6; i++) await shared.cluster.client().put(`oe/${i}`).value(String(i));
  await waitUntil(() => shared.concord.watchStats().subscribers === 0, {
    message: 'iterator detached on overflow',
  });
  assert.equal(shared.concord.watchStats().upstreamWatches, 0);
  const delivered: WatchBatch[] = [];
  await assert.rejects(async () => {
    for (;;) {
      const { value, done } = await nextWithin(iterator);
      if (done) break;
      delivered.push(value);
    }
  }, SlowConsumerError);
  // The five batches it could hold, in order; the sixth put overflowed.
  assert.deepEqual(
    eventLines(delivered).map((l) => l.split('@')[0]),
    [0, 1, 2, 3, 4].map((i) => `put oe/${i}=${i}`),
  );
});

test("watchIterator overflow 'resync': a fresh snapshot, then every later change with no gap", async () => {
  const client = shared.cluster.client();
  await client.put('or/stay').value('s');
  const iterator = shared.concord.watchIterator({ prefix: 'or/' }, { maxBuffered: 5 });
  // Sees what the hub delivered: the iterator got the same batches in the same loop.
  const alongside = collect(shared.concord.watch({ prefix: 'or/' }));
  assert.equal((await nextWithin(iterator)).value?.type, 'progress');
  for (let i = 0; i < 30; i++) await client.put(`or/${i % 7}`).value(String(i));
  const writtenThrough = BigInt((await client.delete().key('or/stay')).header.revision);
  await waitUntil(() => alongside.batches.at(-1)?.revision === writtenThrough);

  const { value: resync } = await nextWithin(iterator);
  assert.equal(resync?.type, 'resync');
  if (resync?.type !== 'resync') return;
  assert.equal(resync.compactRevision, 0n);
  assert.ok(resync.revision >= writtenThrough);
  const expected = new Map<string, string>();
  for (let i = 0; i < 30; i++) expected.set(`or/${i % 7}`, String(i));
  assert.deepEqual(new Map([...resync.snapshot].map(([k, kv]) => [k, kv.value.toString()])), expected);
  // Live again: each later revision exactly once, in order (4 fit in the buffer).
  const later: bigint[] = [];
  for (let i = 0; i < 4; i++)
    later.push(BigInt((await client.put(`or/${i}`).value(`l${i}`)).header.revision));
  const after: WatchBatch[] = [];
  while (after.length < 4) after.push((await nextWithin(iterator)).value as WatchBatch);
  assert.deepEqual(
    after.map((b) => b.revision),
    later,
  );
  assert.ok(after.every((b) => b.type === 'events'));
  await iterator.return?.();
  alongside.subscription.unsubscribe();
  assert.equal(shared.concord.watchStats().subscribers, 0);
});
