// Election under crashes, pauses and network cuts: failover timing after SIGKILL, self-fencing of a
// leader cut off from etcd, and a paused waiter that must never believe it won.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { filter, firstValueFrom, map } from 'rxjs';
import { Concord } from '../../src/concord.js';
import type { Election } from '../../src/election/election.js';
import type { Leadership } from '../../src/election/leadership.js';
import { LeadershipLostError } from '../../src/errors.js';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { startProxy } from '../support/proxy.js';
import { sleep } from '../support/wait.js';
import { spawnWorker, type Worker } from '../support/worker.js';

const CANDIDATE = fileURLToPath(new URL('../../examples/workers/candidate.ts', import.meta.url));
const TTL = 2;
const now = () => performance.timeOrigin + performance.now();

let cluster: EtcdCluster;
let observer: Concord;
const workers: Worker[] = [];
let seq = 0;

before(async () => {
  cluster = await startCluster();
  observer = new Concord({ endpoints: cluster.endpoints });
});

after(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await observer?.close();
  await cluster?.stop();
});

/** Starts candidate processes one after another, so they queue in the order given. */
async function spawnQueue(election: string, names: string[], recampaign = false): Promise<Worker[]> {
  const started: Worker[] = [];
  for (const name of names) {
    const worker = spawnWorker(CANDIDATE, {
      env: {
        ETCD_ENDPOINTS: cluster.endpoints.join(','),
        ELECTION: election,
        CANDIDATE: name,
        TTL: String(TTL),
        RECAMPAIGN: recampaign ? '1' : '0',
      },
    });
    workers.push(worker);
    started.push(worker);
    await worker.waitFor((m) => m.type === 'campaigning', 15_000);
    await candidates(election, started.length);
  }
  return started;
}

/** Resolves once `count` candidate keys of `election` exist. */
async function candidates(election: string, count: number): Promise<void> {
  await firstValueFrom(
    observer.view({ prefix: `election/${election}/` }).pipe(filter((v) => v.entries.size === count)),
  );
}

/** Resolves with the instant the observer sees `key` deleted. */
function deletion(election: string, key: string): Promise<number> {
  return firstValueFrom(
    observer.view({ prefix: `election/${election}/` }).pipe(
      filter((v) => !v.entries.has(key)),
      map(() => now()),
    ),
  );
}

test('SIGKILL the leader (TTL 2): the next candidate is elected within 100 ms of etcd expiring the lease', async () => {
  const election = `failover-${++seq}`;
  const queue = await spawnQueue(election, ['w0', 'w1', 'w2']);
  const first = await queue[0]!.waitFor((m) => m.type === 'elected', 10_000);
  let leaderKey = String(first.key);
  const results: Array<{ killToExpiry: number; expiryToElected: number }> = [];
  for (let round = 0; round < 2; round++) {
    const [dead, next] = [queue[round]!, queue[round + 1]!];
    const expired = deletion(election, leaderKey);
    const since = next.all().length;
    const killedAt = now();
    await dead.kill('SIGKILL');
    const expiredAt = await expired;
    const elected = await next.waitFor((m) => m.type === 'elected', 10_000, { since });
    const electedAt = Number(elected.at);
    results.push({ killToExpiry: expiredAt - killedAt, expiryToElected: electedAt - expiredAt });
    // Causality: the lease outlived the kill by at least the part of the TTL left since the
    // last keepalive (>= 2/3 TTL), and nobody was elected before etcd deleted the old key.
    assert.ok(expiredAt - killedAt > (TTL * 1000) / 2, `lease expired ${expiredAt - killedAt} ms after kill`);
    assert.ok(electedAt > expiredAt - 20, `elected ${expiredAt - electedAt} ms before the observed expiry`);
    assert.ok(electedAt - expiredAt < 100, `elected ${electedAt - expiredAt} ms after the expiry`);
    leaderKey = String(elected.key);
  }
  console.log(
    `failover: ${results
      .map(
        (r) =>
          `kill→expiry ${r.killToExpiry.toFixed(0)} ms, expiry→elected ${r.expiryToElected.toFixed(1)} ms`,
      )
      .join('; ')}`,
  );
  await queue[2]!.kill();
});

test('self-fencing: a leader cut off from etcd loses its leadership before anyone else is elected', async () => {
  const name = `fencing-${++seq}`;
  const proxy = await startProxy(cluster.endpoints[0]!);
  const cutOff = new Concord({ endpoints: [proxy.endpoint] });
  const other = new Concord({ endpoints: cluster.endpoints });
  try {
    const leaderSide = outcomeOf(cutOff.election(name, { ttl: TTL }), 'cut-off');
    const leadership = await leaderSide.elected;
    const otherSide = outcomeOf(other.election(name, { ttl: TTL }), 'other');
    await candidates(name, 2);
    // Read in the same turn as the deletion is seen: what concord's own checks see then.
    let leaderWhenGone = true;
    const keyGone = deletion(name, leadership.key).then((at) => {
      leaderWhenGone = leadership.isLeader;
      return at;
    });
    let leaderWhenOtherElected = true;
    const otherElected = otherSide.elected.then((l) => {
      leaderWhenOtherElected = leadership.isLeader;
      return l;
    });
    const cutAt = now();
    proxy.blackhole();
    const [lost, expiredAt, otherLeadership] = await Promise.all([leaderSide.ended, keyGone, otherElected]);
    const lostAt = leaderSide.endedAt()!;
    const electedAt = otherSide.electedAt()!;
    console.log(
      `self-fencing: cut→lost ${(lostAt - cutAt).toFixed(0)} ms, cut→etcd expiry ${(expiredAt - cutAt).toFixed(0)} ms, ` +
        `cut→other elected ${(electedAt - cutAt).toFixed(0)} ms`,
    );
    assert.ok(lost instanceof LeadershipLostError, `the cut-off leader ended with ${String(lost)}`);
    // The leadership ends by the session's deadline timer, which can run a millisecond after etcd's
    // 500 ms expiry loop happened to revoke right at the deadline; `isLeader` reads the clock.
    assert.equal(leaderWhenGone, false, 'the leader no longer leads once etcd has expired its lease');
    assert.equal(leaderWhenOtherElected, false, 'the leader no longer leads once another is elected');
    assert.ok(lostAt < electedAt + 50, 'its leadership stream ended by then, up to a late timer');
    assert.equal(leadership.isLeader, false);
    assert.ok(otherLeadership.term > leadership.term);
    proxy.restore();
    // Reconnected, the old leader's fenced writes still fail: its term is over.
    assert.equal(await leadership.txn([{ type: 'put', key: `fenced/${name}`, value: 'stale' }]), false);
    assert.equal(await cluster.client().get(`fenced/${name}`).string(), null);
    await otherLeadership.resign();
  } finally {
    await cutOff.close();
    await other.close();
    await proxy.close();
  }
});

test('a waiter paused past its TTL never becomes leader when it resumes', async () => {
  const election = `paused-${++seq}`;
  const [w0, w1, w2] = (await spawnQueue(election, ['w0', 'w1', 'w2'])) as [Worker, Worker, Worker];
  await w0.waitFor((m) => m.type === 'elected', 10_000);
  w1.pause();
  const since = w2.all().length;
  w0.send({ cmd: 'resign' });
  // w1 is next, but frozen: its lease expires and w2 is elected after it.
  const elected = await w2.waitFor((m) => m.type === 'elected', 10_000, { since });
  await sleep(200);
  w1.resume();
  const lost = await w1.waitFor((m) => m.type === 'lost', 10_000);
  assert.equal(lost.error, 'LeadershipLostError');
  await sleep(500);
  assert.deepEqual(
    w1.all().filter((m) => m.type === 'elected'),
    [],
    'the paused waiter must never report itself elected',
  );
  assert.ok(Number(lost.at) > Number(elected.at));
  await Promise.all([w0.kill(), w1.kill(), w2.kill()]);
});

/** Subscribes to a campaign and exposes its outcome, with the instants it happened. */
function outcomeOf(election: Election, value: string) {
  let electedAt: number | undefined;
  let endedAt: number | undefined;
  let resolveElected!: (l: Leadership) => void;
  let resolveEnded!: (v: unknown) => void;
  const elected = new Promise<Leadership>((resolve) => {
    resolveElected = resolve;
  });
  const ended = new Promise<unknown>((resolve) => {
    resolveEnded = resolve;
  });
  election.campaign(value).subscribe({
    next: (l) => {
      electedAt = now();
      resolveElected(l);
    },
    error: (err: unknown) => {
      endedAt = now();
      resolveEnded(err);
    },
    complete: () => {
      endedAt = now();
      resolveEnded('complete');
    },
  });
  return { elected, ended, electedAt: () => electedAt, endedAt: () => endedAt };
}
