// concord.events$ against a real etcd: each primitive reports what happens to it, in order, with
// the fields the README lists, and nothing is built while nobody subscribes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord, type ConcordEvent, isConcordError } from 'concord-etcd';
import { filter, firstValueFrom, type Subscription } from 'rxjs';
import { z } from 'zod';
import { recordEvents } from '../support/events.js';
import { useCluster } from '../support/fixture.js';
import { sleep, waitUntil } from '../support/wait.js';

const shared = useCluster({ proxy: true });

function connect(namespace: string, options: { proxy?: boolean; stallTimeoutMs?: number } = {}): Concord {
  return new Concord({
    endpoints: options.proxy ? [shared.proxy.endpoint] : shared.cluster.endpoints,
    namespace,
    callTimeoutMs: 1_000,
    ...(options.stallTimeoutMs ? { watch: { stallTimeoutMs: options.stallTimeoutMs } } : {}),
  });
}

function assertStamped(events: readonly ConcordEvent[], since: number): void {
  for (const event of events) {
    assert.ok(event.at >= since && event.at <= Date.now(), `${event.type} carries a current \`at\``);
  }
}

test('mutex, rwlock and semaphore: waiting, acquired (waitMs), released (holdMs), abandoned, lost', async (t) => {
  const concord = connect('ev-lock/');
  const log = recordEvents(concord);
  const since = Date.now();
  try {
    const first = await concord.mutex('jobs').lock();
    const waiting = concord.mutex('jobs').lock();
    const queued = await log.next('lock.waiting', (e) => e.key !== first.key);
    assert.deepEqual(
      { primitive: queued.primitive, name: queued.name, mode: queued.mode },
      { primitive: 'mutex', name: 'jobs', mode: undefined },
    );
    // 51: a timer may fire up to a millisecond early by performance.now(), and the hold must last 50.
    await sleep(51);
    await first.release();
    const second = await waiting;
    const released = log.of('lock.released')[0]!;
    assert.equal(released.key, first.key);
    assert.equal(released.fencingToken, first.fencingToken);
    assert.ok(released.holdMs >= 50, `holdMs ${released.holdMs}`);
    const acquired = log.of('lock.acquired');
    assert.deepEqual(
      acquired.map((e) => [e.key, e.fencingToken]),
      [
        [first.key, first.fencingToken],
        [second.key, second.fencingToken],
      ],
    );
    assert.ok(acquired[1]!.waitMs >= 50, `the second waited while the first held: ${acquired[1]!.waitMs}`);
    t.diagnostic(`handoff seen in events: ${acquired[1]!.at - released.at} ms (release → acquired)`);

    // A cancelled wait, then a hold lost with its session's lease revoked behind its back.
    const abort = new AbortController();
    const cancelled = concord.mutex('jobs').lock({ signal: abort.signal });
    await log.next('lock.waiting', (e) => e.key !== first.key && e.key !== second.key);
    abort.abort(new Error('changed my mind'));
    await assert.rejects(cancelled);
    const abandoned = await log.next('lock.abandoned');
    assert.equal(abandoned.reason, 'ABORTED');
    const session = await concord.session({ ttl: 5 });
    await second.release();
    const doomed = await concord.mutex('jobs', { session }).lock();
    await shared.cluster.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    const lost = await log.next('lock.lost');
    assert.equal(lost.key, doomed.key);
    assert.ok(lost.reason === 'deleted' || lost.reason === 'session', lost.reason);

    const read = await concord.rwlock('doc').read();
    await read.release();
    const permit = await concord.semaphore('pool', { permits: 2 }).acquire();
    await permit.release();
    const kinds = log.of('lock.acquired').map((e) => `${e.primitive}:${e.name}${e.mode ? `:${e.mode}` : ''}`);
    assert.deepEqual(kinds.slice(-2), ['rwlock:doc:read', 'semaphore:pool']);
    assertStamped(log.events, since);
  } finally {
    log.stop();
    await concord.close();
  }
});

test('elections: campaign, elected, leader.changed once per change, resigned, lost', async () => {
  const concord = connect('ev-election/');
  const other = connect('ev-election/');
  const log = recordEvents(concord);
  const subs: Subscription[] = [];
  try {
    const election = concord.election('cron');
    // Two leader$ subscribers of one Election: each change is still one event.
    subs.push(election.leader$.subscribe(), election.leader$.subscribe());
    await log.next('leader.changed', (e) => e.key === undefined);
    const leadership = await new Promise<{ key: string; term: bigint; resign(): Promise<void> }>(
      (resolve, reject) => {
        subs.push(election.campaign('a').subscribe({ next: resolve, error: reject }));
      },
    );
    const elected = await log.next('election.elected');
    assert.deepEqual([elected.name, elected.key, elected.term], ['cron', leadership.key, leadership.term]);
    assert.equal(log.of('election.campaign')[0]!.key, leadership.key);
    await log.next('leader.changed', (e) => e.key === leadership.key);
    await leadership.resign();
    const resigned = await log.next('election.resigned');
    assert.equal(resigned.term, leadership.term);

    // Another process leads; this one's leadership of a second campaign is lost to a revoke.
    const session = await concord.session({ ttl: 5 });
    const won = await new Promise<{ term: bigint }>((resolve, reject) => {
      subs.push(
        concord
          .election('cron', { session })
          .campaign('b')
          .subscribe({ next: resolve, error: () => undefined }),
      );
      setTimeout(() => reject(new Error('no second leadership')), 10_000).unref();
    });
    const contender = other
      .election('cron')
      .campaign('c')
      .subscribe({ error: () => undefined });
    subs.push(contender);
    await other.etcd.leaseClient.leaseRevoke({ ID: session.leaseId });
    const lost = await log.next('election.lost');
    assert.equal(lost.term, won.term);
    await log.next('leader.changed', (e) => e.term !== undefined && e.term > won.term);
    const changes = log.of('leader.changed').map((e) => e.term);
    const repeated = changes.filter((term, i) => i > 0 && term === changes[i - 1]);
    assert.deepEqual(repeated, [], `one event per change: ${changes.join(', ')}`);
  } finally {
    for (const sub of subs) sub.unsubscribe();
    log.stop();
    await Promise.all([concord.close(), other.close()]);
  }
});

test('sessions: alive, keepalive round trips with the budget left, closed; sessionStats follows', async () => {
  const concord = connect('ev-session/');
  const log = recordEvents(concord);
  try {
    assert.deepEqual(concord.sessionStats(), { open: 0, shortestTimeLeftMs: undefined });
    const session = await concord.session({ ttl: 2 });
    const alive = await log.next('session.state');
    assert.deepEqual([alive.leaseId, alive.ttl, alive.status], [session.leaseId, 2, 'alive']);
    const keepalive = await log.next('session.keepalive');
    assert.equal(keepalive.leaseId, session.leaseId);
    assert.ok(keepalive.rttMs >= 0 && keepalive.rttMs < 2_000, `rtt ${keepalive.rttMs}`);
    assert.ok(keepalive.timeLeftMs > 0 && keepalive.timeLeftMs <= 2_000, `left ${keepalive.timeLeftMs}`);
    const stats = concord.sessionStats();
    assert.equal(stats.open, 1);
    assert.ok(stats.shortestTimeLeftMs! > 0 && stats.shortestTimeLeftMs! <= 2_000);
    await session.close();
    const closed = await log.next('session.state', (e) => e.status === 'closed');
    assert.equal(closed.timeLeftMs, 0);
    assert.ok(closed.rttMs !== undefined, 'the last round trip rides along');
    assert.equal(concord.sessionStats().open, 0);
  } finally {
    log.stop();
    await concord.close();
  }
});

test('watch: connected, resync after compaction (range, keys, revisions), reconnected, stalled; connection states; failed calls by code', async () => {
  const client = shared.cluster.client();
  await client.put('ev-watch/a').value('1');
  await client.put('ev-watch/b').value('2');
  const old = await shared.cluster.revision();
  await client.put('ev-watch/a').value('3');
  const compacted = await shared.cluster.compact();
  const concord = connect('ev-watch/', { proxy: true, stallTimeoutMs: 800 });
  const log = recordEvents(concord);
  try {
    const sub = concord.watch({ prefix: '' }, { fromRevision: old }).subscribe();
    await log.next('watch.connected');
    const resync = await log.next('watch.resync');
    assert.deepEqual(resync.range, { prefix: '' });
    assert.equal(resync.keys, 2);
    assert.equal(resync.compactRevision, compacted);
    assert.ok(resync.revision >= compacted);

    shared.proxy.cut();
    const reconnected = await log.next('watch.reconnected');
    assert.ok(reconnected.downMs >= 0 && reconnected.watches === 1, JSON.stringify(reconnected, String));
    shared.proxy.blackhole();
    const stalled = await log.next('watch.stalled');
    assert.ok(stalled.silentMs >= 800);
    const failed = concord.kv.get('x').catch((err: unknown) => err);
    assert.ok(isConcordError(await failed, 'NOT_CONNECTED'));
    const call = await log.next('call.failed');
    assert.equal(call.code, 'NOT_CONNECTED');
    await log.next('connection.state', (e) => e.state === 'disconnected');
    shared.proxy.restore();
    await log.next('watch.reconnected', (e) => e.at > stalled.at);
    await log.next('connection.state', (e) => e.state === 'connected' && e.at > stalled.at);
    sub.unsubscribe();
  } finally {
    shared.proxy.restore();
    log.stop();
    await concord.close();
  }
});

test('registrations, ejections, config revisions and scoped work report their states', async () => {
  const concord = connect('ev-misc/');
  const log = recordEvents(concord);
  try {
    const reg = await concord.registry().register({ service: 'api', id: 'i1', address: '10.0.0.1:80' });
    const registered = await log.next('registration.state');
    assert.deepEqual(
      [registered.service, registered.id, registered.key, registered.status],
      ['api', 'i1', 'services/api/i1', 'registered'],
    );
    assert.ok(registered.leaseId);
    await concord.etcd.leaseClient.leaseRevoke({ ID: registered.leaseId! });
    const again = await log.next('registration.state', (e) => e.status === 'reregistering');
    assert.equal(again.reason, 'SESSION_LOST');
    await log.next(
      'registration.state',
      (e) => e.status === 'registered' && e.leaseId !== registered.leaseId,
    );

    const picker = concord
      .discovery()
      .picker('api', { strategy: 'round-robin', eject: { afterErrors: 2, forMs: 60_000, maxPercent: 100 } });
    await picker.ready();
    const instance = picker.next()!;
    picker.report(instance, 'error');
    picker.report(instance, 'error');
    const ejected = await log.next('instance.ejected');
    assert.deepEqual([ejected.service, ejected.id, ejected.key], ['api', 'i1', 'services/api/i1']);
    picker.close();
    await reg.deregister();
    await log.next('registration.state', (e) => e.status === 'deregistered');

    const config = concord.config('cfg', { schema: z.object({ pool: z.number().optional() }) });
    const sub = config.value$.subscribe();
    const { revision } = await config.set('pool', 5);
    const applied = await log.next('config.applied', (e) => e.revision === revision);
    assert.deepEqual([applied.prefix, applied.changed], ['cfg/', true]);
    await concord.kv.put('cfg/pool', '"not a number"');
    const rejected = await log.next('config.rejected');
    assert.equal(rejected.prefix, 'cfg/');
    assert.equal(rejected.key, 'pool');
    assert.ok(rejected.issues >= 1);
    sub.unsubscribe();

    // Work that ignores its signal: unsubscribing asks it to stop, the drain times out.
    let started = false;
    const work = concord
      .mutex('job')
      .whileHeld(
        () => {
          started = true;
          return sleep(1_500).then(() => 'done');
        },
        { drainTimeoutMs: 200 },
      )
      .subscribe({ error: () => undefined });
    await waitUntil(() => started);
    work.unsubscribe();
    const stopping = await log.next('work.stopping');
    assert.deepEqual([stopping.primitive, stopping.name, stopping.cause], ['mutex', 'job', 'unsubscribed']);
    const overrun = await log.next('work.drain-timeout');
    assert.equal(overrun.key, stopping.key);
    assert.ok(overrun.waitedMs >= 200, `waited ${overrun.waitedMs}`);
  } finally {
    log.stop();
    await concord.close();
  }
});

test('cold: with nobody subscribed nothing is built; events$ completes with the Concord, after connection.state closed', async () => {
  const concord = connect('ev-cold/');
  // Work with no subscriber, then a late one that sees only what happens after it subscribed.
  const lock = await concord.mutex('m').lock();
  await lock.release();
  const all: ConcordEvent[] = [];
  const done = new Promise<void>((resolve) =>
    concord.events$.subscribe({ next: (e) => all.push(e), complete: resolve }),
  );
  const again = await concord.mutex('m').lock();
  await again.release();
  await concord.close();
  await done;
  assert.deepEqual(
    all.filter((e) => e.type.startsWith('lock.')).map((e) => e.type),
    ['lock.waiting', 'lock.acquired', 'lock.released'],
  );
  assert.deepEqual(all.at(-1), { type: 'connection.state', at: all.at(-1)!.at, state: 'closed' });
  const late = await firstValueFrom(concord.events$.pipe(filter(() => true)), { defaultValue: 'completed' });
  assert.equal(late, 'completed');
});
