// view(): one shared, materialized cache per prefix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord } from '../../src/concord.js';
import type { View } from '../../src/watch/types.js';
import { useCluster } from '../support/fixture.js';
import { sleep, waitUntil } from '../support/wait.js';
import { collect, rangeCalls } from './helpers.js';

const shared = useCluster({ concord: {} });

function values(view: View | undefined): Record<string, string> {
  return Object.fromEntries([...(view?.entries ?? [])].map(([k, kv]) => [k, kv.value.toString()]));
}

test('a first view reads the prefix once and follows it', async () => {
  const client = shared.cluster.client();
  await client.put('vw/a').value('1');
  await client.put('vw/b').value('2');
  await client.put('vwx').value('not under the prefix');
  const member = shared.cluster.members[0]!;
  const before = await rangeCalls(member);
  const views: View[] = [];
  const sub = shared.concord.view({ prefix: 'vw/' }).subscribe((v) => views.push(v));
  await waitUntil(() => views.length === 1);
  assert.equal(await rangeCalls(member), before + 1);
  assert.deepEqual(values(views[0]), { 'vw/a': '1', 'vw/b': '2' });
  assert.equal(views[0]!.revision, await shared.cluster.revision());
  const put = await client.put('vw/c').value('3');
  const del = await client.delete().key('vw/a');
  await waitUntil(() => views.length === 3);
  assert.equal(views[1]!.revision, BigInt(put.header.revision));
  assert.deepEqual(values(views[1]), { 'vw/a': '1', 'vw/b': '2', 'vw/c': '3' });
  assert.equal(views[2]!.revision, BigInt(del.header.revision));
  assert.deepEqual(values(views[2]), { 'vw/b': '2', 'vw/c': '3' });
  // Views handed out earlier are never changed afterwards.
  assert.deepEqual(values(views[0]), { 'vw/a': '1', 'vw/b': '2' });
  sub.unsubscribe();
});

test('a late view subscriber gets the cached snapshot without a range read, then identical updates', async () => {
  const client = shared.cluster.client();
  await client.put('lv/a').value('1');
  const member = shared.cluster.members[0]!;
  const first: View[] = [];
  const sub1 = shared.concord.view({ prefix: 'lv/' }).subscribe((v) => first.push(v));
  await waitUntil(() => first.length === 1);
  await client.put('lv/b').value('2');
  await waitUntil(() => first.length === 2);

  const before = await rangeCalls(member);
  const second: View[] = [];
  const sub2 = shared.concord.view({ prefix: 'lv/' }).subscribe((v) => second.push(v));
  // Synchronously, from the cache: the very View the first subscriber holds.
  assert.equal(second.length, 1);
  assert.equal(second[0], first[1]);
  await client.put('lv/c').value('3');
  await client.delete().key('lv/a');
  await waitUntil(() => first.length === 4 && second.length === 3);
  await sleep(200);
  assert.equal(await rangeCalls(member), before, 'no Range call for the late subscriber');
  assert.deepEqual(second.slice(1), first.slice(2));
  assert.deepEqual(values(second.at(-1)), { 'lv/b': '2', 'lv/c': '3' });
  assert.equal(shared.concord.watchStats().upstreamWatches, 1);
  assert.equal(shared.concord.watchStats().subscribers, 2);
  sub1.unsubscribe();
  sub2.unsubscribe();
  assert.deepEqual(shared.concord.watchStats(), { streams: 0, upstreamWatches: 0, subscribers: 0 });
});

test('a plain watch of a prefix that a view follows shares the view’s server-side watch', async () => {
  const views: View[] = [];
  const sub = shared.concord.view({ prefix: 'sh/' }).subscribe((v) => views.push(v));
  await waitUntil(() => views.length === 1 && shared.concord.watchStats().upstreamWatches === 1);
  const watched = collect(shared.concord.watch({ prefix: 'sh/' }));
  assert.equal(shared.concord.watchStats().upstreamWatches, 1);
  assert.deepEqual(watched.batches, [{ type: 'progress', revision: views[0]!.revision }]);
  const put = await shared.cluster.client().put('sh/a').value('1');
  await waitUntil(() => views.length === 2 && watched.batches.length === 2);
  assert.equal(watched.batches[1]!.revision, BigInt(put.header.revision));
  assert.equal(views[1]!.revision, BigInt(put.header.revision));
  sub.unsubscribe();
  watched.subscription.unsubscribe();
});

test('after the last subscriber leaves, the next view reads afresh', async () => {
  const member = shared.cluster.members[0]!;
  const first: View[] = [];
  shared.concord
    .view({ prefix: 'rf/' })
    .subscribe((v) => first.push(v))
    .unsubscribe();
  const before = await rangeCalls(member);
  const views: View[] = [];
  const sub = shared.concord.view({ prefix: 'rf/' }).subscribe((v) => views.push(v));
  await waitUntil(() => views.length === 1);
  assert.ok((await rangeCalls(member)) > before);
  sub.unsubscribe();
});

test('an empty prefix views the whole keyspace of the namespace', async () => {
  const scoped = new Concord({ endpoints: shared.cluster.endpoints, namespace: 'scope/' });
  const whole = new Concord({ endpoints: shared.cluster.endpoints });
  try {
    await shared.cluster.client().put('scope/k').value('v');
    const views: View[] = [];
    const all: View[] = [];
    const sub = scoped.view({ prefix: '' }).subscribe((v) => views.push(v));
    const subAll = whole.view({ prefix: '' }).subscribe((v) => all.push(v));
    await waitUntil(() => views.length === 1 && all.length === 1);
    assert.deepEqual(values(views[0]), { k: 'v' });
    assert.equal(all[0]!.entries.get('scope/k')?.value.toString(), 'v');
    await shared.cluster.client().put('scope/k2').value('v2');
    await waitUntil(() => views.length === 2 && all.length === 2);
    assert.deepEqual(values(views[1]), { k: 'v', k2: 'v2' });
    sub.unsubscribe();
    subAll.unsubscribe();
  } finally {
    await scoped.close();
    await whole.close();
  }
});
