// Compaction: history the hub still needed is gone, so it re-reads the range and says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord } from '../../src/concord.js';
import type { View } from '../../src/watch/types.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';
import { collect, eventLines, nextWithin, rangeCalls, waitGauges } from './helpers.js';

const shared = useCluster({ proxy: true });

/** The range as etcd holds it now: key -> value, plus the read's revision. */
async function readPrefix(
  prefix: string,
  revision?: bigint,
): Promise<{ revision: bigint; entries: Map<string, string> }> {
  const res = await shared.cluster.client().kv.range({
    key: Buffer.from(prefix),
    range_end: Buffer.from(
      prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1),
    ),
    ...(revision === undefined ? {} : { revision: revision.toString() }),
  });
  return {
    revision: BigInt(res.header.revision),
    entries: new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()])),
  };
}

function values(entries: ReadonlyMap<string, { value: Buffer }>): Map<string, string> {
  return new Map([...entries].map(([k, kv]) => [k, kv.value.toString()]));
}

test('compacted while cut off: one resync with the right snapshot, then live events; views just move on', async () => {
  const client = shared.cluster.client();
  await client.put('cp/keep').value('0');
  await client.put('cp/gone').value('0');
  const concord = new Concord({ endpoints: [shared.proxy.endpoint] });
  try {
    const watched = collect(concord.watch({ prefix: 'cp/' }));
    const views: View[] = [];
    const viewErrors: unknown[] = [];
    const viewSub = concord
      .view({ prefix: 'cp/' })
      .subscribe({ next: (v) => views.push(v), error: (e) => viewErrors.push(e) });
    await waitUntil(() => watched.batches.length === 1 && views.length === 1);
    await client.put('cp/keep').value('1');
    await waitUntil(() => watched.batches.length === 2 && views.length === 2);
    const delivered = watched.batches.at(-1)!.revision;

    shared.proxy.blackhole();
    await client.put('cp/keep').value('2');
    await client.delete().key('cp/gone');
    await client.put('cp/new').value('3');
    await client.put('other/x').value('outside the range');
    const compactedAt = await shared.cluster.compact();
    assert.ok(compactedAt > delivered + 1n);
    shared.proxy.restore();

    await waitUntil(() => watched.batches.some((b) => b.type === 'resync'), { timeoutMs: 10_000 });
    const resyncs = watched.batches.filter((b) => b.type === 'resync');
    assert.equal(resyncs.length, 1);
    const resync = resyncs[0]!;
    if (resync.type !== 'resync') return;
    assert.equal(resync.compactRevision, compactedAt);
    assert.ok(resync.revision >= compactedAt);
    const expected = await readPrefix('cp/', resync.revision);
    assert.deepEqual(values(resync.snapshot), expected.entries);
    assert.deepEqual(
      values(resync.snapshot),
      new Map([
        ['cp/keep', '2'],
        ['cp/new', '3'],
      ]),
    );
    assert.equal(resync.snapshot.get('cp/keep')!.key, 'cp/keep');

    await waitUntil(() => views.at(-1)!.revision >= resync.revision);
    assert.deepEqual(
      values(views.at(-1)!.entries),
      new Map([
        ['cp/keep', '2'],
        ['cp/new', '3'],
      ]),
    );

    const live = await client.put('cp/after').value('4');
    await waitUntil(() => watched.batches.at(-1)!.type === 'events' && views.at(-1)!.entries.has('cp/after'));
    assert.deepEqual(eventLines(watched.batches.slice(watched.batches.indexOf(resync) + 1)), [
      `put cp/after=4@${live.header.revision}`,
    ]);
    assert.deepEqual(viewErrors, []);
    assert.deepEqual(watched.errors, []);
    for (let i = 1; i < watched.batches.length; i++) {
      assert.ok(watched.batches[i]!.revision > watched.batches[i - 1]!.revision);
    }
    watched.subscription.unsubscribe();
    viewSub.unsubscribe();
  } finally {
    await concord.close();
  }
});

test('the watch etcd cancelled for compaction does not linger on the server', async () => {
  const member = shared.cluster.members[0]!;
  // Every earlier test closed its Concord: the server ends up with no watch at all.
  await waitGauges(member, { watchers: 0, streams: 0 });
  const client = shared.cluster.client();
  const concord = new Concord({ endpoints: [shared.proxy.endpoint] });
  try {
    const watched = collect(concord.watch({ prefix: 'lg/' }));
    await waitUntil(() => watched.batches.length === 1);
    shared.proxy.blackhole();
    await client.put('lg/a').value('1');
    await client.put('lg/a').value('2');
    await shared.cluster.compact();
    shared.proxy.restore();
    await waitUntil(() => watched.batches.some((b) => b.type === 'resync'), { timeoutMs: 10_000 });
    const after = await client.put('lg/a').value('3');
    await waitUntil(() => watched.batches.at(-1)!.revision === BigInt(after.header.revision));
    await waitGauges(member, { watchers: 1, streams: 1 });
    watched.subscription.unsubscribe();
    await waitGauges(member, { watchers: 0, streams: 0 });
  } finally {
    await concord.close();
  }
});

test('fromRevision below the compaction point yields resync, not an error', async () => {
  const client = shared.cluster.client();
  const start = (await shared.cluster.revision()) + 1n;
  await client.put('fr/a').value('1');
  await client.put('fr/b').value('2');
  await client.delete().key('fr/a');
  const compactedAt = await shared.cluster.compact();
  const concord = new Concord({ endpoints: shared.cluster.endpoints });
  try {
    const watched = collect(concord.watch({ prefix: 'fr/' }, { fromRevision: start }));
    const iterator = concord.watchIterator({ prefix: 'fr/' }, { fromRevision: start });
    await waitUntil(() => watched.batches.length === 1);
    const [resync] = watched.batches;
    assert.equal(resync!.type, 'resync');
    if (resync!.type !== 'resync') return;
    assert.equal(resync.compactRevision, compactedAt);
    assert.deepEqual(values(resync.snapshot), new Map([['fr/b', '2']]));
    const first = await nextWithin(iterator);
    assert.equal(first.value?.type, 'resync');
    const later = await client.put('fr/c').value('3');
    await waitUntil(() => watched.batches.length === 2);
    assert.deepEqual(eventLines(watched.batches.slice(1)), [`put fr/c=3@${later.header.revision}`]);
    const second = await nextWithin(iterator);
    assert.equal(second.value?.revision, BigInt(later.header.revision));
    await iterator.return?.();
    watched.subscription.unsubscribe();
    assert.deepEqual(watched.errors, []);
  } finally {
    await concord.close();
  }
});

test('a compacted range of 10,000 keys is re-read in pages', async () => {
  const client = shared.cluster.client();
  for (let batch = 0; batch < 100; batch++) {
    await client.kv.txn({
      compare: [],
      success: Array.from({ length: 100 }, (_, i) => ({
        request_put: {
          key: Buffer.from(`big/${String(batch * 100 + i).padStart(5, '0')}`),
          value: Buffer.from(String(batch * 100 + i)),
        },
      })),
      failure: [],
    });
  }
  const logs: Array<{ message: string; fields?: Record<string, unknown> }> = [];
  const concord = new Concord({
    endpoints: [shared.proxy.endpoint],
    watch: { pageSize: 1_000 },
    logger: { info: (message, fields) => logs.push({ message, ...(fields ? { fields } : {}) }) },
  });
  try {
    const watched = collect(concord.watch({ prefix: 'big/' }));
    let view: View | undefined;
    const viewSub = concord.view({ prefix: 'big/' }).subscribe((v) => {
      view = v;
    });
    await waitUntil(() => watched.batches.length === 1 && view?.entries.size === 10_000, {
      timeoutMs: 10_000,
    });
    shared.proxy.blackhole();
    await client.delete().key('big/00000');
    await client.put('big/10000').value('10000');
    await shared.cluster.compact();
    const rangesBefore = await rangeCalls(shared.cluster.members[0]!);
    shared.proxy.restore();
    await waitUntil(
      () => watched.batches.some((b) => b.type === 'resync') && view?.entries.has('big/10000') === true,
      {
        timeoutMs: 15_000,
      },
    );
    const rangesAfter = await rangeCalls(shared.cluster.members[0]!);
    const resync = watched.batches.find((b) => b.type === 'resync');
    assert.equal(resync?.type === 'resync' && resync.snapshot.size, 10_000);
    assert.equal(resync?.type === 'resync' && resync.snapshot.has('big/00000'), false);
    assert.equal(view?.entries.size, 10_000);
    const reads = logs.filter((l) => l.message === 'watch resynced after compaction');
    // One re-read per server-side watch (the plain watch and the view's), each in 10 pages.
    assert.ok(reads.length >= 1);
    for (const read of reads) assert.equal(read.fields?.pages, 10);
    assert.ok(rangesAfter - rangesBefore >= 10, `${rangesAfter - rangesBefore} Range calls`);
    viewSub.unsubscribe();
    watched.subscription.unsubscribe();
  } finally {
    await concord.close();
  }
});
