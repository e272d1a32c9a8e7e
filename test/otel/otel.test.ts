// concord-etcd/otel against a real etcd, read through the OpenTelemetry SDK's own MetricReader:
// lock waits, holds and handoffs, a leader change, a resync and a reconnect, failed calls, the
// gauges; stop() ends it all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord, InvalidArgumentError, type Leadership } from 'concord-etcd';
import { instrument } from 'concord-etcd/otel';
import type { Subscription } from 'rxjs';
import { recordEvents } from '../support/events.js';
import { useCluster } from '../support/fixture.js';
import { testMeters, total } from '../support/metrics.js';
import { sleep, waitUntil } from '../support/wait.js';

const shared = useCluster({ proxy: true });

/** Counts the reads of `concord`'s stats (what the gauges' callback does) from now on. */
function countStatsReads(concord: Concord): { count: number } {
  const reads = { count: 0 };
  const sessionStats = concord.sessionStats.bind(concord);
  const watchStats = concord.watchStats.bind(concord);
  concord.sessionStats = () => {
    reads.count++;
    return sessionStats();
  };
  concord.watchStats = () => {
    reads.count++;
    return watchStats();
  };
  return reads;
}

test('instrument(): histograms, counters and gauges move with what the Concord does', async (t) => {
  const client = shared.cluster.client();
  await client.put('otel/a').value('1');
  const old = await shared.cluster.revision();
  await client.put('otel/a').value('2');
  await shared.cluster.compact();
  const concord = new Concord({
    endpoints: [shared.proxy.endpoint],
    namespace: 'otel/',
    callTimeoutMs: 1_000,
  });
  const meters = testMeters();
  const instrumentation = instrument(concord, { meterProvider: meters.provider });
  const log = recordEvents(concord);
  const subs: Subscription[] = [];
  try {
    // A handoff inside one process: the second waiter gets the lock the first releases.
    const mutex = concord.mutex('jobs');
    const first = await mutex.lock();
    const waiting = mutex.lock();
    await log.next('lock.waiting', (e) => e.key !== first.key);
    await sleep(20);
    await first.release();
    await (await waiting).release();

    // A leader change observed through leader$.
    const election = concord.election('cron');
    subs.push(election.leader$.subscribe());
    const leadership = await new Promise<Leadership>((resolve, reject) => {
      subs.push(election.campaign('a').subscribe({ next: resolve, error: reject }));
    });
    await log.next('leader.changed', (e) => e.key === leadership.key);

    // A resync (a watch from before the compaction), then a reconnect through a cut proxy.
    subs.push(concord.watch({ prefix: '' }, { fromRevision: old }).subscribe());
    await log.next('watch.resync');
    shared.proxy.cut();
    await log.next('watch.reconnected');
    await waitUntil(() => log.of('connection.state').at(-1)?.state === 'connected');

    const points = await meters.collect();
    const lock = { 'concord.lock.name': 'jobs', 'concord.lock.primitive': 'mutex' };
    assert.equal(total(points, 'concord.lock.wait.duration', lock), 2, 'two waits recorded');
    assert.equal(
      total(points, 'concord.lock.hold.duration', { ...lock, 'concord.lock.outcome': 'released' }),
      2,
    );
    assert.equal(total(points, 'concord.lock.handoff.duration', lock), 1, 'one handoff');
    const handoff = points.find((p) => p.name === 'concord.lock.handoff.duration')!;
    assert.equal(handoff.unit, 's');
    assert.ok(handoff.sum! > 0 && handoff.sum! < 5, `handoff ${handoff.sum} s`);
    t.diagnostic(`handoff inside one process: ${(handoff.sum! * 1000).toFixed(2)} ms`);
    assert.ok(total(points, 'concord.election.leader.changes', { 'concord.election.name': 'cron' }) >= 2);
    assert.equal(total(points, 'concord.election.campaign.duration'), 1);
    assert.equal(total(points, 'concord.watch.resyncs'), 1);
    assert.ok(total(points, 'concord.watch.reconnects') >= 1);
    assert.equal(total(points, 'concord.session.count'), 1, 'the campaign holds one session');
    const left = total(points, 'concord.session.time_left');
    assert.ok(left > 0 && left <= 10, `shortest lease budget ${left} s`);
    assert.equal(total(points, 'concord.watch.stream.count'), 1);
    assert.ok(total(points, 'concord.watch.upstream.count') >= 2, 'leader$ view and the watch');
    assert.ok(total(points, 'concord.watch.subscriber.count') >= 2);
    assert.equal(total(points, 'concord.connection.count', { 'concord.connection.state': 'connected' }), 1);

    // Failed calls by code, and a lost leadership.
    shared.proxy.blackhole();
    await assert.rejects(concord.kv.get('x'));
    shared.proxy.restore();
    await leadership.resign();
    const session = await concord.session({ ttl: 3 });
    const second = await new Promise<Leadership>((resolve, reject) => {
      const campaign = concord.election('other', { session }).campaign('b');
      subs.push(campaign.subscribe({ next: resolve, error: reject }));
    });
    await client.leaseClient.leaseRevoke({ ID: session.leaseId });
    await log.next('election.lost', (e) => e.term === second.term);
    const later = await meters.collect();
    assert.ok(total(later, 'concord.call.failures', { 'concord.error.code': 'NOT_CONNECTED' }) >= 1);
    assert.equal(total(later, 'concord.election.losses', { 'concord.election.name': 'other' }), 1);
    assert.equal(
      total(later, 'concord.election.leadership.duration', { 'concord.election.outcome': 'resigned' }),
      1,
    );

    // stop(): nothing more is recorded, the gauges are no longer observed.
    const reads = countStatsReads(concord);
    await meters.collect();
    assert.equal(reads.count, 2, 'one collection reads sessionStats() and watchStats() once each');
    instrumentation.stop();
    instrumentation.stop();
    const lock2 = await mutex.lock();
    await lock2.release();
    const after = await meters.collect();
    assert.equal(total(after, 'concord.lock.wait.duration', lock), 2);
    assert.equal(reads.count, 2, 'the gauges are no longer observed');
  } finally {
    for (const sub of subs) sub.unsubscribe();
    shared.proxy.restore();
    log.stop();
    instrumentation.stop();
    await concord.close();
    await meters.shutdown();
  }
});

test('instrument() takes the MeterProvider itself, stops by itself when the Concord closes, and checks its arguments', async () => {
  const concord = new Concord({ endpoints: shared.cluster.endpoints, namespace: 'otel2/' });
  const meters = testMeters();
  using _ = instrument(concord, meters.provider);
  const lock = await concord.semaphore('pool', { permits: 2 }).acquire();
  await lock.release();
  const points = await meters.collect();
  assert.equal(total(points, 'concord.lock.wait.duration', { 'concord.lock.primitive': 'semaphore' }), 1);
  await concord.close();
  const reads = countStatsReads(concord);
  await meters.collect();
  assert.equal(reads.count, 0, 'closing the Concord stopped the instrumentation');
  await meters.shutdown();

  assert.throws(() => instrument({} as Concord), InvalidArgumentError);
  assert.throws(
    () => instrument(concord, 42 as never),
    /options must be \{ meterProvider \} or a MeterProvider/,
  );
  assert.throws(
    () => instrument(concord, { meterProvider: {} as never }),
    /options.meterProvider must be a MeterProvider/,
  );
});
