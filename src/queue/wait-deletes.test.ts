// waitDeleted against a real etcd: the watch "from now" plus, only when something was written
// since the caller looked, one read for what happened in between.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EtcdCluster, startCluster } from '../../test/support/etcd.js';
import { settled, sleep, waitUntil } from '../../test/support/wait.js';
import { rangeCalls, watchGauges } from '../../test/watch/helpers.js';
import { Concord, runtimeOf } from '../concord.js';
import { waitDeleted, waitForDeletes } from './wait-deletes.js';

let cluster: EtcdCluster;
let concord: Concord;

before(async () => {
  cluster = await startCluster();
  concord = new Concord({ endpoints: cluster.endpoints });
});

after(async () => {
  await concord?.close();
  await cluster?.stop();
});

/** Waits until etcd has created the wait's watch (not only until the hub asked for it). */
const watching = () =>
  waitUntil(async () => (await watchGauges(cluster.members[0]!)).watchers === 1, { message: 'the watch' });

const put = async (key: string) => BigInt((await cluster.client().put(key).value('x')).header.revision);

test('nothing written since the look: no read, and the delete resolves the wait', async () => {
  const revision = await put('wd/a');
  const member = cluster.members[0]!;
  const reads = await rangeCalls(member);
  const waiting = waitDeleted(runtimeOf(concord), 'wd/a', revision, new AbortController().signal);
  await watching();
  assert.equal(await settled(waiting), false);
  const deleted = BigInt((await cluster.client().delete().key('wd/a')).header.revision);
  const { drop, exactAt } = await waiting;
  assert.equal(await rangeCalls(member), reads, 'the watch started right after the look: nothing to read');
  assert.equal(exactAt, deleted, 'the watch saw every change since the look: exact at the delete');
  // The finished wait leaves its watch to the caller (the next holder attaches its own first).
  assert.deepEqual(concord.watchStats(), { streams: 1, upstreamWatches: 1, subscribers: 1 });
  drop();
  assert.deepEqual(concord.watchStats(), { streams: 0, upstreamWatches: 0, subscribers: 0 });
});

test('deleted between the look and the watch: one read notices it', async () => {
  const revision = await put('wd/b');
  await put('wd/other');
  await cluster.client().delete().key('wd/b');
  const member = cluster.members[0]!;
  const reads = await rangeCalls(member);
  const { drop, exactAt } = await waitDeleted(
    runtimeOf(concord),
    'wd/b',
    revision,
    new AbortController().signal,
  );
  assert.equal(await rangeCalls(member), reads + 1);
  assert.equal(exactAt, undefined, 'a read decided: not exact');
  drop();
});

test('written since the look but still there: one read, then the delete resolves the wait', async () => {
  const revision = await put('wd/c');
  await put('wd/other');
  const waiting = waitDeleted(runtimeOf(concord), 'wd/c', revision, new AbortController().signal);
  await watching();
  assert.equal(await settled(waiting), false);
  await cluster.client().delete().key('wd/c');
  const { drop, exactAt } = await waiting;
  assert.equal(exactAt, undefined, 'the watch started after a write it could not see: not exact');
  drop();
});

test('a late start with a narrower read: keys outside it stay, so the wait ends only when the blocker goes', async () => {
  // The shape of the wait next in line: the prefix watched for the blocker and the waiter's own
  // key, the late-start read covering the blocker only.
  const revision = await put('wd/q/blocker');
  await put('wd/q/own');
  const own = 'wd/q/own';
  const waiting = waitForDeletes(
    runtimeOf(concord),
    { prefix: 'wd/q/' },
    new Set(['wd/q/blocker', own]),
    (remaining) => !remaining.has(own) || remaining.size - 1 < 1,
    revision,
    new AbortController().signal,
    { key: 'wd/q/blocker' },
  );
  await watching();
  await sleep(50);
  assert.equal(await settled(waiting), false, 'the blocker is still there: the wait goes on');
  await cluster.client().delete().key('wd/q/blocker');
  const { drop, remaining, exactAt } = await waiting;
  assert.deepEqual([...remaining], [own], 'its own key was never gone');
  assert.equal(exactAt, undefined, 'a read decided part of it: not exact');
  drop();
});
