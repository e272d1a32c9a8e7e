// One stream, refcounted server-side watches: proved by etcd's own watcher gauges.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Subscription } from 'rxjs';
import { Concord } from '../../src/concord.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';
import { watchGauges } from './helpers.js';

const shared = useCluster();

async function gaugesEqual(expected: { watchers: number; streams: number }): Promise<void> {
  const member = shared.cluster.members[0]!;
  let last = { watchers: -1, streams: -1 };
  await waitUntil(
    async () => {
      last = await watchGauges(member);
      return last.watchers === expected.watchers && last.streams === expected.streams;
    },
    { timeoutMs: 5_000, message: `gauges ${JSON.stringify(expected)}` },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; last seen ${JSON.stringify(last)}`);
  });
}

test('1,000 watch() subscribers of one prefix share one server-side watcher and one stream', async (t) => {
  const member = shared.cluster.members[0]!;
  const baseline = await watchGauges(member);
  const concord = new Concord({ endpoints: shared.cluster.endpoints });
  try {
    const counts = new Array<number>(1_000).fill(0);
    const subs: Subscription[] = counts.map((_, i) =>
      concord.watch({ prefix: 'co/' }).subscribe((batch) => {
        if (batch.type === 'events') counts[i]! += batch.events.length;
      }),
    );
    await gaugesEqual({ watchers: baseline.watchers + 1, streams: baseline.streams + 1 });
    assert.deepEqual(concord.watchStats(), { streams: 1, upstreamWatches: 1, subscribers: 1_000 });

    const started = performance.now();
    await shared.cluster.client().put('co/a').value('1');
    await waitUntil(() => counts.every((c) => c === 1), {
      intervalMs: 1,
      message: 'every subscriber got the put',
    });
    t.diagnostic(`put to all 1,000 subscribers: ${(performance.now() - started).toFixed(1)} ms`);
    // Still exactly one watcher while they all receive.
    assert.deepEqual(await watchGauges(member), {
      watchers: baseline.watchers + 1,
      streams: baseline.streams + 1,
    });

    for (const sub of subs.slice(0, 999)) sub.unsubscribe();
    assert.deepEqual(concord.watchStats(), { streams: 1, upstreamWatches: 1, subscribers: 1 });
    subs[999]!.unsubscribe();
    assert.deepEqual(concord.watchStats(), { streams: 0, upstreamWatches: 0, subscribers: 0 });
    await gaugesEqual(baseline);
  } finally {
    await concord.close();
  }
});

test('1,000 view() subscribers of one prefix share one server-side watcher', async () => {
  const member = shared.cluster.members[0]!;
  const baseline = await watchGauges(member);
  const concord = new Concord({ endpoints: shared.cluster.endpoints });
  try {
    const sizes = new Array<number>(1_000).fill(-1);
    const subs = sizes.map((_, i) =>
      concord.view({ prefix: 'cv/' }).subscribe((view) => {
        sizes[i] = view.entries.size;
      }),
    );
    await gaugesEqual({ watchers: baseline.watchers + 1, streams: baseline.streams + 1 });
    await shared.cluster.client().put('cv/a').value('1');
    await waitUntil(() => sizes.every((s) => s === 1), { message: 'every view saw the put' });
    assert.deepEqual(concord.watchStats(), { streams: 1, upstreamWatches: 1, subscribers: 1_000 });
    for (const sub of subs) sub.unsubscribe();
    await gaugesEqual(baseline);
  } finally {
    await concord.close();
  }
});

test('subscribers of different ranges share the one stream, one watcher per range', async () => {
  const member = shared.cluster.members[0]!;
  const baseline = await watchGauges(member);
  const concord = new Concord({ endpoints: shared.cluster.endpoints });
  try {
    const subs = [
      concord.watch({ prefix: 'dr/a/' }).subscribe(),
      concord.watch({ prefix: 'dr/a/' }).subscribe(),
      concord.watch({ prefix: 'dr/b/' }).subscribe(),
      concord.watch({ key: 'dr/c' }).subscribe(),
      concord.watch({ key: 'dr/c' }, { prevKv: true }).subscribe(),
      concord.view({ prefix: 'dr/d/' }).subscribe(),
    ];
    await gaugesEqual({ watchers: baseline.watchers + 5, streams: baseline.streams + 1 });
    assert.deepEqual(concord.watchStats(), { streams: 1, upstreamWatches: 5, subscribers: 6 });
    for (const sub of subs) sub.unsubscribe();
    await gaugesEqual(baseline);
    assert.deepEqual(concord.watchStats(), { streams: 0, upstreamWatches: 0, subscribers: 0 });
  } finally {
    await concord.close();
  }
});

test('a second Concord opens its own stream; close() removes its watchers', async () => {
  const member = shared.cluster.members[0]!;
  const baseline = await watchGauges(member);
  const a = new Concord({ endpoints: shared.cluster.endpoints });
  const b = new Concord({ endpoints: shared.cluster.endpoints });
  try {
    a.watch({ prefix: 'tc/' }).subscribe();
    b.watch({ prefix: 'tc/' }).subscribe();
    await gaugesEqual({ watchers: baseline.watchers + 2, streams: baseline.streams + 2 });
    await a.close();
    await gaugesEqual({ watchers: baseline.watchers + 1, streams: baseline.streams + 1 });
    await b.close();
    await gaugesEqual(baseline);
  } finally {
    await a.close();
    await b.close();
  }
});
