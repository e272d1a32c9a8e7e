// Lease budgets against a real etcd: timeLeft() and expiring$(marginMs) of sessions, lock handles
// and leaderships. Loss by a blackholed connection is in test/faults/session-blackhole.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from 'concord-etcd';
import { firstValueFrom, type Observable } from 'rxjs';
import { useCluster } from './support/fixture.js';
import { sleep, waitUntil } from './support/wait.js';

/** Everything an Observable did, in order, as 'next' / 'complete' / 'error:<code>' entries. */
function record(source: Observable<unknown>, into: string[] = []): string[] {
  source.subscribe({
    next: () => into.push('next'),
    complete: () => into.push('complete'),
    error: (err: unknown) => into.push(`error:${(err as { code?: string }).code}`),
  });
  return into;
}

describe('Lease budget', () => {
  const fx = useCluster({ concord: { namespace: 'budget/' } });

  test('expiring$ checks marginMs at the call, for sessions, locks and leaderships', async (t) => {
    const session = await fx.concord.session({ ttl: 5 });
    const lock = await fx.concord.mutex('validate', { session }).lock();
    const leadership = await firstValueFrom(fx.concord.election('validate', { session }).campaign('v'));
    const holders = { session, lock, leadership };
    for (const [name, holder] of Object.entries(holders)) {
      for (const bad of [-1, 1.5, Number.NaN, '100', undefined]) {
        assert.throws(
          () => holder.expiring$(bad as number),
          (err: unknown) => err instanceof InvalidArgumentError && err.argument === 'marginMs',
          `${name}.expiring$(${String(bad)})`,
        );
      }
    }
    t.diagnostic(
      `timeLeft: session ${session.timeLeft().toFixed(0)} ms, lock ${lock.timeLeft().toFixed(0)} ms`,
    );
    assert.ok(session.timeLeft() > 4_000 && session.timeLeft() <= 5_000);
    assert.ok(lock.timeLeft() > 0 && lock.timeLeft() <= session.timeLeft() + 1);
    await lock.release();
    await session.close();
  });

  test('a healthy session never falls under a third of its TTL; expiring$(TTL/3) stays silent', async (t) => {
    const ttl = 3;
    const session = await fx.concord.session({ ttl });
    const fired = record(session.expiring$((ttl * 1000) / 3));
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    const until = Date.now() + 2 * ttl * 1000; // six keepalive rounds
    while (Date.now() < until) {
      const left = session.timeLeft();
      min = Math.min(min, left);
      max = Math.max(max, left);
      await sleep(5);
    }
    t.diagnostic(
      `TTL ${ttl} s, keepalive every ${ttl / 3} s: timeLeft() ranged ${min.toFixed(0)}..${max.toFixed(0)} ms ` +
        `over ${2 * ttl} s (floor without delays: ${((ttl * 2) / 3) * 1000} ms minus a round trip)`,
    );
    assert.deepEqual(fired, []);
    assert.ok(min > (ttl * 1000) / 3, `timeLeft() fell to ${min} ms`);
    await session.close();
    assert.deepEqual(fired, ['complete'], 'close completes it without emitting');
    assert.equal(session.timeLeft(), 0);
    assert.deepEqual(record(session.expiring$(0)), ['complete'], 'a late subscriber after close');
  });

  test('a margin above what is left fires at once; loss fires before lost$; a late subscriber hears it at once', async () => {
    const session = await fx.concord.session({ ttl: 3 });
    assert.deepEqual(record(session.expiring$(3_001)), ['next', 'complete'], 'synchronously');
    const order: string[] = [];
    session.lost$.subscribe(() => order.push('lost$'));
    session.expiring$(0).subscribe(() => order.push('expiring$(0)'));
    session.expiring$(500).subscribe(() => order.push('expiring$(500)'));
    await fx.cluster.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    await waitUntil(() => order.length === 3, { message: 'the loss', timeoutMs: 5_000 });
    assert.equal(order.at(-1), 'lost$', `never later than lost$: ${order.join(', ')}`);
    assert.equal(session.timeLeft(), 0);
    assert.deepEqual(record(session.expiring$(0)), ['next', 'complete']);
  });

  test('lock handle: fires when its key is deleted (full budget left), completes on release', async () => {
    const mutex = fx.concord.mutex('budget-lock', { ttl: 30 });
    const lock = await mutex.lock();
    const order: string[] = [];
    lock.lost$.subscribe(() => order.push('lost$'));
    lock
      .expiring$(1_000)
      .subscribe({ next: () => order.push('expiring$'), complete: () => order.push('done') });
    await fx.cluster.client().delete().key(`budget/${lock.key}`);
    await waitUntil(() => order.includes('lost$'), { message: 'the loss' });
    assert.deepEqual(order, ['expiring$', 'done', 'lost$']);
    assert.equal(lock.timeLeft(), 0);
    assert.deepEqual(record(lock.expiring$(0)), ['next', 'complete'], 'late: lost');

    const next = await mutex.lock();
    const released = record(next.expiring$(1_000));
    assert.ok(next.timeLeft() > 25_000);
    await next.release();
    assert.deepEqual(released, ['complete']);
    assert.equal(next.timeLeft(), 0);
    assert.deepEqual(record(next.expiring$(0)), ['complete'], 'late: released');
  });

  test('lock on a shared session: the session closing under it is a loss of the lock', async () => {
    const session = await fx.concord.session({ ttl: 30 });
    const lock = await fx.concord.mutex('budget-shared', { session }).lock();
    const events = record(lock.expiring$(100));
    await session.close();
    assert.deepEqual(events, ['next', 'complete']);
    assert.equal(lock.isHeld, false);
  });

  test('leadership: completes on resign, fires on loss, timeLeft follows the session', async () => {
    const election = fx.concord.election('budget-election', { ttl: 30 });
    const events: string[] = [];
    let resigned: { timeLeft(): number } | undefined;
    const subscription = election.campaign('b').subscribe((l) => {
      record(l.expiring$(500), events);
      events.push(`elected:${l.timeLeft() > 25_000}`);
      resigned = l;
      void l.resign();
    });
    await waitUntil(() => events.includes('complete'), { message: 'the resignation' });
    assert.deepEqual(events, ['elected:true', 'complete']);
    assert.equal(resigned?.timeLeft(), 0);
    subscription.unsubscribe();

    const lost: string[] = [];
    const session = await fx.concord.session({ ttl: 30 });
    const expiring = await new Promise<Observable<void>>((resolve) => {
      fx.concord
        .election('budget-election', { session })
        .campaign('c')
        .subscribe({ next: (l) => resolve(l.expiring$(1_000)), error: () => lost.push('campaign error') });
    });
    record(expiring, lost);
    await fx.cluster.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    await waitUntil(() => lost.includes('campaign error'), { message: 'the loss' });
    assert.deepEqual(lost, ['next', 'complete', 'campaign error']);
  });
});
