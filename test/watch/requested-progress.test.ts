// Progress the hub asks for (RequestProgress), without the server flag
// --experimental-watch-progress-notify-interval. etcd 3.4.25+/3.5.8+ answer it in order with the
// events, so the hub moves quiet ranges with it; older etcd (3.4.23) answers it ahead of queued
// events, so there it stays a liveness probe and quiet ranges do not move. Each test asserts the
// behaviour of the etcd version it runs against (ETCD_BIN).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord } from '../../src/concord.js';
import { answersProgressInOrder } from '../../src/watch/progress.js';
import type { View } from '../../src/watch/types.js';
import { useCluster } from '../support/fixture.js';
import { sleep, waitUntil } from '../support/wait.js';
import { collect, eventLines } from './helpers.js';

const plain = useCluster();

async function serverVersion(): Promise<string> {
  return (await plain.cluster.client().maintenance.status()).version;
}

test('a quiet range moves by requested progress on etcd that orders it, and not on older etcd', async (t) => {
  const version = await serverVersion();
  const ordered = answersProgressInOrder(version);
  const concord = new Concord({ endpoints: plain.cluster.endpoints, watch: { progressIntervalMs: 100 } });
  try {
    const quiet = collect(concord.watch({ prefix: 'quiet/' }));
    const views: View[] = [];
    const viewSub = concord.view({ prefix: 'quiet/' }).subscribe((v) => views.push(v));
    await waitUntil(() => quiet.batches.length === 1 && views.length === 1);
    const start = quiet.batches[0]!.revision;
    let lastWrite = 0n;
    for (let i = 0; i < 5; i++) {
      lastWrite = BigInt((await plain.cluster.client().put(`busy/${i}`).value(String(i))).header.revision);
      await sleep(50);
    }
    const lateView = () => {
      let late: View | undefined;
      concord
        .view({ prefix: 'quiet/' })
        .subscribe((v) => {
          late = v;
        })
        .unsubscribe();
      return late;
    };
    if (ordered) {
      await waitUntil(() => quiet.batches.at(-1)!.revision === lastWrite, {
        timeoutMs: 5_000,
        message: 'a requested progress at the last write',
      });
      assert.ok(quiet.batches.every((b) => b.type === 'progress'));
      for (let i = 1; i < quiet.batches.length; i++) {
        assert.ok(quiet.batches[i]!.revision > quiet.batches[i - 1]!.revision);
      }
      await waitUntil(() => lateView()?.revision === lastWrite, {
        message: 'the view cache at the last write',
      });
    } else {
      // Ten intervals of requests, each answered (they keep the stream alive) but none applied.
      await sleep(1_000);
      assert.deepEqual(
        quiet.batches.map((b) => b.revision),
        [start],
      );
      assert.equal(lateView()?.revision, views[0]!.revision);
    }
    assert.equal(views.length, 1, 'the view emits nothing: nothing under quiet/ changed');
    t.diagnostic(
      `etcd ${version}: ${ordered ? 'moved by requested progress' : 'not moved (answers are liveness only)'}; ` +
        `${quiet.batches.length} batches, last at ${quiet.batches.at(-1)!.revision} (last write ${lastWrite})`,
    );
    quiet.subscription.unsubscribe();
    viewSub.unsubscribe();
  } finally {
    await concord.close();
  }
});

test('requested progress never overtakes events: every write arrives once, in order, under load', async (t) => {
  const version = await serverVersion();
  // A request every 10 ms while writes land on watched and unwatched keys: an answer sent ahead
  // of queued events would move a watch past them, and the hub would then drop them as seen.
  const concord = new Concord({ endpoints: plain.cluster.endpoints, watch: { progressIntervalMs: 10 } });
  const writer = new Concord({ endpoints: plain.cluster.endpoints });
  try {
    const watched = collect(concord.watch({ prefix: 'ord/' }));
    const other = collect(concord.watch({ prefix: 'other/' }));
    await waitUntil(() => watched.batches.length === 1 && other.batches.length === 1);
    const count = 300;
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = w; i < count; i += 4) {
          await writer.etcd.put(`ord/${String(i).padStart(3, '0')}`).value(String(i));
          await writer.etcd.put(`other/${w}`).value(String(i));
        }
      }),
    );
    const last = BigInt((await writer.etcd.put('other/last').value('x')).header.revision);
    await waitUntil(
      () => eventLines(watched.batches).length === count && other.batches.at(-1)!.revision === last,
      {
        timeoutMs: 15_000,
        message: `${count} events on ord/ and other/ at ${last}`,
      },
    );
    const keys = eventLines(watched.batches).map((l) => l.split('=')[0]);
    assert.equal(new Set(keys).size, count, 'every key exactly once');
    for (let i = 1; i < watched.batches.length; i++) {
      assert.ok(watched.batches[i]!.revision > watched.batches[i - 1]!.revision, 'strictly increasing');
    }
    const progress = watched.batches.filter((b) => b.type === 'progress').length - 1;
    t.diagnostic(`etcd ${version}: ${count} events in order and ${progress} progress batches between them`);
    if (answersProgressInOrder(version)) assert.ok(progress > 0, 'progress was interleaved with the events');
    watched.subscription.unsubscribe();
    other.subscription.unsubscribe();
  } finally {
    await writer.close();
    await concord.close();
  }
});

test('a watch catching up from an old revision gets all its history: progress waits until it caught up', async (t) => {
  const version = await serverVersion();
  const concord = new Concord({ endpoints: plain.cluster.endpoints, watch: { progressIntervalMs: 10 } });
  try {
    // The stream is open (and its member's version known) before the catching-up watch exists.
    const warm = collect(concord.watch({ prefix: 'warm/' }));
    await waitUntil(() => warm.batches.length === 1);
    await sleep(200);
    const first = BigInt((await plain.cluster.client().put('hist/000').value('0')).header.revision);
    for (let i = 1; i < 50; i++)
      await plain.cluster
        .client()
        .put(`hist/${String(i).padStart(3, '0')}`)
        .value(String(i));
    // etcd replays history to a watch that starts in the past from a loop that runs every 100 ms;
    // a progress answer sent before that (as etcd 3.4.23 would) would carry the current revision
    // and the hub would drop the replayed events as already seen.
    const history = collect(concord.watch({ prefix: 'hist/' }, { fromRevision: first }));
    await waitUntil(() => eventLines(history.batches).length === 50, {
      timeoutMs: 5_000,
      message: `50 replayed events (got ${eventLines(history.batches).length})`,
    });
    assert.deepEqual(
      eventLines(history.batches).map((l) => l.split('=')[0]),
      Array.from({ length: 50 }, (_, i) => `put hist/${String(i).padStart(3, '0')}`),
    );
    t.diagnostic(`etcd ${version}: 50 of 50 replayed events`);
    history.subscription.unsubscribe();
    warm.subscription.unsubscribe();
  } finally {
    await concord.close();
  }
});
