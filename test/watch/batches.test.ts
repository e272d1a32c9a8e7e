// What a watch delivers: one batch per revision, whole transactions, caller-side key names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord } from '../../src/concord.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';
import { collect, eventLines } from './helpers.js';

const shared = useCluster({ concord: {} });

test('a transaction writing 5 keys arrives as one events batch with one revision', async () => {
  const watched = collect(shared.concord.watch({ prefix: 'tx/' }));
  // A plain watch starts "now"; its first batch says from which revision on it sees everything.
  await waitUntil(() => watched.batches.length === 1);
  assert.equal(watched.batches[0]!.type, 'progress');
  const keys = ['tx/a', 'tx/b', 'tx/c', 'tx/d', 'tx/e'];
  const res = await shared.cluster.client().kv.txn({
    compare: [],
    success: keys.map((key, i) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(`v${i}`) } })),
    failure: [],
  });
  const revision = BigInt(res.header.revision);
  await waitUntil(() => watched.batches.some((b) => b.type === 'events'));
  const events = watched.batches.filter((b) => b.type === 'events');
  assert.equal(events.length, 1);
  const [batch] = events;
  assert.equal(batch!.type, 'events');
  if (batch!.type !== 'events') return;
  assert.equal(batch.revision, revision);
  assert.deepEqual(
    batch.events.map((e) => [e.type, e.kv.key, e.kv.value.toString(), e.kv.modRevision]),
    keys.map((key, i) => ['put', key, `v${i}`, revision]),
  );
  watched.subscription.unsubscribe();
});

test('revisions strictly increase per subscription; puts, deletes and prevKv are reported', async () => {
  const plain = collect(
    shared.concord.watch({ prefix: 'ord/' }, { fromRevision: (await shared.cluster.revision()) + 1n }),
  );
  const withPrev = collect(
    shared.concord.watch(
      { prefix: 'ord/' },
      { prevKv: true, fromRevision: (await shared.cluster.revision()) + 1n },
    ),
  );
  const client = shared.cluster.client();
  for (let i = 0; i < 20; i++) await client.put(`ord/k${i % 3}`).value(String(i));
  await client.delete().key('ord/k0');
  await client.delete().prefix('ord/');
  const last = await shared.cluster.revision();
  await waitUntil(
    () => plain.batches.at(-1)?.revision === last && withPrev.batches.at(-1)?.revision === last,
  );
  for (const c of [plain, withPrev]) {
    const revisions = c.batches.map((b) => b.revision);
    for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i]! > revisions[i - 1]!, `${revisions}`);
    assert.ok(c.batches.every((b) => b.type === 'events'));
  }
  const lines = eventLines(plain.batches);
  assert.equal(lines.length, 20 + 1 + 2);
  assert.match(lines[20]!, /^delete ord\/k0=@/);
  assert.deepEqual(
    lines.slice(21).map((l) => l.split('=')[0]),
    ['delete ord/k1', 'delete ord/k2'],
  );
  // The last delete removed two keys in one revision: one batch.
  const lastBatch = plain.batches.at(-1);
  assert.equal(lastBatch?.type === 'events' && lastBatch.events.length, 2);
  const withPrevEvents = withPrev.batches.flatMap((b) => (b.type === 'events' ? b.events : []));
  assert.equal(withPrevEvents[0]!.prev, undefined, 'first put of a key has no previous value');
  assert.equal(withPrevEvents[3]!.prev?.value.toString(), '0');
  assert.equal(plain.batches.flatMap((b) => (b.type === 'events' ? b.events : []))[3]!.prev, undefined);
  plain.subscription.unsubscribe();
  withPrev.subscription.unsubscribe();
});

test('fromRevision replays history; keys are the caller names without the namespace', async () => {
  const client = shared.cluster.client();
  const start = (await shared.cluster.revision()) + 1n;
  await client.put('ns1/app/x').value('1');
  await client.put('ns1/app/y').value('2');
  await client.put('ns2/app/x').value('other namespace');
  const scoped = new Concord({ endpoints: shared.cluster.endpoints, namespace: 'ns1/' });
  try {
    const history = collect(scoped.watch({ prefix: 'app/' }, { fromRevision: start }));
    const single = collect(scoped.watch({ key: 'app/y' }, { fromRevision: start }));
    await waitUntil(() => history.batches.length === 2 && single.batches.length === 1);
    assert.deepEqual(eventLines(history.batches), [`put app/x=1@${start}`, `put app/y=2@${start + 1n}`]);
    assert.deepEqual(eventLines(single.batches), [`put app/y=2@${start + 1n}`]);
    const kv = history.batches[0]!.type === 'events' ? history.batches[0]!.events[0]!.kv : undefined;
    assert.equal(kv?.createRevision, start);
    assert.equal(kv?.version, 1n);
    assert.equal(kv?.lease, '0');
    assert.ok(Buffer.isBuffer(kv?.value));
  } finally {
    await scoped.close();
  }
});

test('a late subscriber of a shared watch gets only what happens after it subscribed', async () => {
  const client = shared.cluster.client();
  const first = collect(shared.concord.watch({ prefix: 'late/' }));
  await waitUntil(() => first.batches.length === 1);
  const start = first.batches[0]!;
  assert.deepEqual(start, { type: 'progress', revision: await shared.cluster.revision() });
  const a = await client.put('late/a').value('1');
  await waitUntil(() => first.batches.length === 2);
  const second = collect(shared.concord.watch({ prefix: 'late/' }));
  assert.equal(shared.concord.watchStats().upstreamWatches, 1);
  // Joining a watch that is already running: told at once where it starts.
  assert.deepEqual(second.batches, [{ type: 'progress', revision: BigInt(a.header.revision) }]);
  await client.put('late/b').value('2');
  await waitUntil(() => first.batches.length === 3 && second.batches.length === 2);
  assert.deepEqual(eventLines(second.batches), eventLines(first.batches.slice(2)));
  assert.deepEqual(eventLines(first.batches), [
    `put late/a=1@${a.header.revision}`,
    `put late/b=2@${BigInt(a.header.revision) + 1n}`,
  ]);
  first.subscription.unsubscribe();
  second.subscription.unsubscribe();
});

test('a subscriber asking for older history gets its own watch, then leaves the shared one alone', async () => {
  const client = shared.cluster.client();
  const start = (await shared.cluster.revision()) + 1n;
  await client.put('old/a').value('1');
  const live = collect(shared.concord.watch({ prefix: 'old/' }));
  await waitUntil(() => live.batches.length === 1);
  await client.put('old/b').value('2');
  await waitUntil(() => live.batches.length === 2);
  const replay = collect(shared.concord.watch({ prefix: 'old/' }, { fromRevision: start }));
  assert.equal(shared.concord.watchStats().upstreamWatches, 2);
  await waitUntil(() => replay.batches.length === 2);
  assert.deepEqual(
    eventLines(replay.batches).map((l) => l.split('@')[0]),
    ['put old/a=1', 'put old/b=2'],
  );
  replay.subscription.unsubscribe();
  assert.equal(shared.concord.watchStats().upstreamWatches, 1);
  live.subscription.unsubscribe();
});

test('a revision too large for one response arrives whole: etcd fragments it, the hub reassembles', async () => {
  const client = shared.cluster.client();
  const big = Buffer.alloc(1024 * 1024, 'x');
  for (let i = 0; i < 5; i++) await client.put(`frag/${i}`).value(big);
  const watched = collect(shared.concord.watch({ prefix: 'frag/' }, { prevKv: true }));
  await waitUntil(() => watched.batches.length === 1);
  // Five deletes with their 1 MiB previous values: over 5 MiB in one revision, more than both
  // etcd's 1.5 MiB response limit and gRPC's default 4 MiB message limit.
  const res = await client.delete().prefix('frag/').exec();
  await waitUntil(() => watched.batches.length === 2, { timeoutMs: 10_000 });
  const batch = watched.batches[1]!;
  assert.equal(batch.type, 'events');
  if (batch.type !== 'events') return;
  assert.equal(batch.revision, BigInt(res.header.revision));
  assert.deepEqual(
    batch.events.map((e) => [e.type, e.kv.key, e.prev?.value.length]),
    [0, 1, 2, 3, 4].map((i) => ['delete', `frag/${i}`, big.length]),
  );
  assert.deepEqual(watched.errors, []);
  watched.subscription.unsubscribe();
});
