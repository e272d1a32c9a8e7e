// leader$ keeps following the election across cut streams, killed etcd members and compaction:
// it never goes silent and never reports a leader older than one it already reported.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Subscription } from 'rxjs';
import { Concord } from '../../src/concord.js';
import type { Election } from '../../src/election/election.js';
import type { Leadership } from '../../src/election/leadership.js';
import type { LeaderInfo } from '../../src/election/types.js';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';
import { waitUntil } from '../support/wait.js';

let cluster: EtcdCluster;
let proxies: TcpProxy[];
let observer: Concord;
let actors: Concord;
const logged: string[] = [];

before(async () => {
  cluster = await startCluster({ size: 3 });
  proxies = await Promise.all(cluster.endpoints.map((e) => startProxy(e)));
  observer = new Concord({
    endpoints: proxies.map((p) => p.endpoint),
    watch: { stallTimeoutMs: 1_000 },
    logger: {
      info: (message) => logged.push(`observer: ${message}`),
      warn: (message, fields) => logged.push(`observer: ${message} ${JSON.stringify(fields)}`),
    },
  });
  actors = new Concord({
    endpoints: cluster.endpoints,
    logger: { warn: (message, fields) => logged.push(`actors: ${message} ${JSON.stringify(fields)}`) },
  });
});

after(async () => {
  await actors?.close();
  await observer?.close();
  await Promise.all((proxies ?? []).map((p) => p.close()));
  await cluster?.stop();
});

/** `promise`, or a rejection naming `what` after `ms`: a stuck step fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not done within ${ms} ms (log: ${logged.slice(-20).join(' | ')})`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Campaigns and resolves once elected; the subscription stays open (unsubscribing would resign). */
function elect(election: Election, value: string): { elected: Promise<Leadership>; sub: Subscription } {
  let resolve!: (l: Leadership) => void;
  let reject!: (err: unknown) => void;
  const elected = new Promise<Leadership>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const sub = election.campaign(value).subscribe({ next: resolve, error: reject });
  return { elected, sub };
}

test('leader$ follows every change through stream cuts, killed members and compaction', async () => {
  const name = 'stream';
  const seen: Array<LeaderInfo | undefined> = [];
  const sub = observer.election(name).leader$.subscribe({
    next: (l) => seen.push(l),
    error: (err: unknown) => assert.fail(`leader$ errored: ${String(err)}`),
  });
  const shows = (value: string | undefined, message: string) =>
    waitUntil(() => seen.length > 0 && seen.at(-1)?.value === value, { timeoutMs: 20_000, message });
  // Everything the election went through, in order: what leader$ reports must be a subsequence.
  const history: string[] = [];
  const proclaim = async (leadership: Leadership, value: string) => {
    await within(leadership.proclaim(value), `proclaim ${value}`);
    history.push(value);
  };

  await shows(undefined, 'no leader at first');
  const election = actors.election(name, { ttl: 10 });
  const a = elect(election, 'a');
  const leaderA = await within(a.elected, 'a elected');
  history.push('a');
  await shows('a', 'leader a');

  // 1. The observer's connections are cut, again and again, while the leader proclaims.
  for (let i = 0; i < 5; i++) {
    for (const p of proxies) p.cut();
    await proclaim(leaderA, `a-cut-${i}`);
    await shows(`a-cut-${i}`, `value after cut ${i}`);
  }

  // 2. Each etcd member in turn is SIGKILLed (the raft leader among them) and restarted.
  for (const [i, member] of cluster.members.entries()) {
    await within(member.kill(), `kill ${member.name}`);
    await proclaim(leaderA, `a-kill-${i}`);
    await shows(`a-kill-${i}`, `value while member ${member.name} is down`);
    await within(member.start(), `restart ${member.name}`);
    await within(cluster.waitHealthy(20_000), 'cluster healthy', 25_000);
  }

  // 3. A new leader while the observer is blackholed, then compaction past everything it saw.
  // One after the other, so the queue is a, b, c.
  const queued = (count: number) =>
    within(
      waitUntil(
        async () => (await cluster.client().getAll().prefix(`election/${name}/`).keys()).length === count,
      ),
      `${count} candidates queued`,
    );
  const b = elect(election, 'b');
  await queued(2);
  const c = elect(election, 'c');
  await queued(3);
  for (const p of proxies) p.blackhole();
  await within(leaderA.resign(), 'a resigns');
  const leaderB = await within(b.elected, 'b elected');
  history.push('b');
  await within(leaderB.resign(), 'b resigns');
  const leaderC = await within(c.elected, 'c elected');
  history.push('c');
  await proclaim(leaderC, 'c-while-blackholed');
  await within(cluster.compact(), 'compaction');
  for (const p of proxies) p.restore();
  await shows('c-while-blackholed', 'the leader elected while blackholed, after compaction');
  assert.ok(
    logged.some((m) => /resync/i.test(m)),
    `the hub resynced after compaction (log: ${logged.join(' | ')})`,
  );

  // 4. Not silent afterwards.
  await proclaim(leaderC, 'c-after');
  await shows('c-after', 'a change after the resync');
  await within(leaderC.resign(), 'c resigns');
  await shows(undefined, 'no leader at the end');

  // Never stale: every report is the latest at some point, in order, terms never going back.
  const reported = seen.filter((l): l is LeaderInfo => l !== undefined);
  let position = -1;
  for (const leader of reported) {
    const index = history.indexOf(leader.value, position + 1);
    assert.ok(
      index > position,
      `reported ${leader.value} out of order: ${reported.map((l) => l.value).join(', ')}`,
    );
    position = index;
  }
  for (let i = 1; i < reported.length; i++) assert.ok(reported[i]!.term >= reported[i - 1]!.term);
  assert.ok(!reported.some((l) => l.value === 'b'), 'b led only while the observer was blackholed');
  sub.unsubscribe();
  for (const s of [a.sub, b.sub, c.sub]) s.unsubscribe();
});
