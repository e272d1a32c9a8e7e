import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IResponseStream, IWatchResponse } from 'etcd3';
import { firstValueFrom } from 'rxjs';
import { useCluster } from '../../test/support/fixture.js';
import { startProxy } from '../../test/support/proxy.js';
import { settled, sleep, waitUntil } from '../../test/support/wait.js';
import { Concord, runtimeOf } from '../concord.js';
import { ClosedError, InvalidArgumentError, LockLostError } from '../errors.js';
import type { LockHandle } from './handle.js';

/**
 * Counts the watch events one Concord's watch streams receive: a tap on the real gRPC stream,
 * installed where etcd3's connection pool hands out the Watch service.
 */
function countWatchEvents(concord: Concord): { events: number } {
  const counter = { events: 0 };
  type WithConnection = (service: string, fn: (args: unknown) => unknown) => Promise<unknown>;
  const pool = (runtimeOf(concord).etcd as unknown as { pool: { withConnection: WithConnection } }).pool;
  const original = pool.withConnection.bind(pool);
  pool.withConnection = (service, fn) =>
    original(service, (args) => {
      const result = fn(args);
      if (service === 'Watch') {
        const { stream } = result as { stream: IResponseStream<IWatchResponse> };
        stream.on('data', (res: IWatchResponse) => {
          counter.events += res.events.length;
        });
      }
      return result;
    });
  return counter;
}

describe('Mutex', () => {
  const fx = useCluster({ concord: {} });

  async function keysUnder(prefix: string): Promise<string[]> {
    return fx.cluster.client().getAll().prefix(prefix).keys();
  }

  test('bad input is an InvalidArgumentError naming the argument, before anything is written', async () => {
    const revision = await fx.cluster.revision();
    const session = await fx.concord.session({ ttl: 5 });
    const cases: Array<[() => unknown, string]> = [
      [() => fx.concord.mutex(''), 'name'],
      [() => fx.concord.mutex(42 as unknown as string), 'name'],
      [() => fx.concord.mutex('m', { ttl: 1 }), 'options.ttl'],
      [() => fx.concord.mutex('m', { ttl: 2.5 }), 'options.ttl'],
      [() => fx.concord.mutex('m', { session, ttl: 5 }), 'options.ttl'],
      [() => fx.concord.mutex('m', { session: {} as never }), 'options.session'],
      [() => fx.concord.mutex('m', { tll: 5 } as never), 'options.tll'],
      [() => fx.concord.mutex('x'.repeat(2 * 1024 * 1024)), 'name'],
    ];
    for (const [make, argument] of cases) {
      assert.throws(make, (err: unknown) => err instanceof InvalidArgumentError && err.argument === argument);
    }
    await assert.rejects(
      fx.concord.mutex('m').lock({ signal: 'no' as never }),
      (err: unknown) => err instanceof InvalidArgumentError && err.argument === 'options.signal',
    );
    await session.close();
    // Granting and revoking the session's lease writes no revision; nothing else was written.
    assert.equal(await fx.cluster.revision(), revision);
  });

  test('10 waiters acquire in the order they asked; each release wakes exactly one waiter', async () => {
    const name = 'fair';
    const others = Array.from({ length: 10 }, () => new Concord({ endpoints: fx.cluster.endpoints }));
    try {
      const taps = others.map(countWatchEvents);
      const first = await fx.concord.mutex(name).lock();
      const order: number[] = [];
      const handles: LockHandle[] = [];
      const waits: Promise<LockHandle>[] = [];
      for (let i = 0; i < others.length; i++) {
        waits.push(
          others[i]!.mutex(name)
            .lock()
            .then((h) => {
              order.push(i);
              handles[i] = h;
              return h;
            }),
        );
        await waitUntil(async () => (await keysUnder(`${name}/`)).length === i + 2, {
          message: `waiter ${i} queued`,
        });
      }
      let current = first;
      const tokens = [first.fencingToken];
      const wokenPerRelease: number[] = [];
      const handoffMs: number[] = [];
      for (let i = 0; i < others.length; i++) {
        const before = taps.map((t) => t.events);
        const releasedAt = performance.now();
        await current.release();
        current = await waits[i]!;
        handoffMs.push(performance.now() - releasedAt);
        // Any event for a still-waiting process would arrive within this pause.
        await sleep(150);
        let delivered = 0;
        for (let j = i; j < others.length; j++) delivered += taps[j]!.events - before[j]!;
        wokenPerRelease.push(delivered);
        tokens.push(current.fencingToken);
        for (let j = i + 1; j < others.length; j++) {
          assert.equal(await settled(waits[j]!), false, `waiter ${j} still waits after release ${i}`);
        }
      }
      await current.release();
      handoffMs.sort((a, b) => a - b);
      console.log(
        `watch events delivered to waiting processes per release: ${wokenPerRelease.join(',')}; ` +
          `release->next acquire ms: median ${handoffMs[5]!.toFixed(1)}, max ${handoffMs[9]!.toFixed(1)}`,
      );
      assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(wokenPerRelease, Array(10).fill(1));
      for (let i = 1; i < tokens.length; i++)
        assert.ok(tokens[i]! > tokens[i - 1]!, 'fencing tokens increase');
      assert.deepEqual(await keysUnder(`${name}/`), []);
    } finally {
      await Promise.all(others.map((c) => c.close()));
    }
  });

  test('tryLock never waits: undefined on a held lock without writing anything, a handle on a free one', async () => {
    const session = await fx.concord.session({ ttl: 10 });
    try {
      const holder = await fx.concord.mutex('try').lock();
      const revision = await fx.cluster.revision();
      const started = performance.now();
      assert.equal(await fx.concord.mutex('try', { session }).tryLock(), undefined);
      assert.equal(await fx.concord.mutex('try').tryLock(), undefined);
      assert.ok(performance.now() - started < 2_000);
      assert.equal(await fx.cluster.revision(), revision, 'a failed tryLock writes nothing');
      await holder.release();
      const got = await fx.concord.mutex('try', { session }).tryLock();
      assert.ok(got?.isHeld);
      assert.equal(await fx.concord.mutex('try').tryLock(), undefined);
      await got.release();
      const own = await fx.concord.mutex('try').tryLock();
      assert.ok(own?.isHeld);
      await own.release();
      assert.deepEqual(await keysUnder('try/'), []);
    } finally {
      await session.close();
    }
  });

  test('release: isHeld is false at the call, the signal aborts before release() resolves, txn refuses', async () => {
    for (const shared of [false, true]) {
      const session = shared ? await fx.concord.session({ ttl: 10 }) : undefined;
      const held = await fx.concord.mutex('release-order', session ? { session } : {}).lock();
      const aborted: boolean[] = [];
      held.signal.addEventListener('abort', () => aborted.push(true));
      const released = held.release();
      assert.equal(held.isHeld, false, 'isHeld at the call');
      assert.equal(await held.txn([{ type: 'put', key: 'release-order-data', value: 'x' }]), false);
      await released;
      assert.deepEqual(aborted, [true], 'the signal aborted once, before release() resolved');
      assert.equal(held.signal.reason?.code, 'CLOSED');
      assert.deepEqual(await keysUnder('release-order/'), []);
      assert.equal(await fx.cluster.client().get('release-order-data').string(), null);
      await session?.close();
    }
  });

  test('aborting a wait rejects with the reason and removes the waiter key (and its own lease)', async () => {
    const holder = await fx.concord.mutex('abort').lock();
    const session = await fx.concord.session({ ttl: 10 });
    try {
      const ac = new AbortController();
      const shared = new AbortController();
      const waiting = fx.concord.mutex('abort').lock({ signal: ac.signal });
      const waitingShared = fx.concord.mutex('abort', { session }).lock({ signal: shared.signal });
      await waitUntil(async () => (await keysUnder('abort/')).length === 3, {
        message: 'two waiters queued',
      });
      const leases = (await fx.cluster.client().leaseClient.leaseLeases()).leases.length;
      const reason = new Error('changed my mind');
      ac.abort(reason);
      await assert.rejects(waiting, (err) => err === reason);
      shared.abort();
      await assert.rejects(
        waitingShared,
        (err: unknown) => err instanceof Error && err.name === 'AbortError',
      );
      assert.deepEqual(await keysUnder('abort/'), [holder.key]);
      assert.equal((await fx.cluster.client().leaseClient.leaseLeases()).leases.length, leases - 1);
      assert.equal(session.isAlive, true, 'a shared session survives an aborted wait');
      await assert.rejects(fx.concord.mutex('abort').lock({ signal: AbortSignal.abort() }));
      assert.deepEqual(await keysUnder('abort/'), [holder.key]);
    } finally {
      await holder.release();
      await session.close();
    }
  });

  test('two lock() calls on one session exclude each other', async () => {
    const session = await fx.concord.session({ ttl: 10 });
    try {
      const mutex = fx.concord.mutex('same-session', { session });
      const a = await mutex.lock();
      const b = mutex.lock();
      await sleep(300);
      assert.equal(await settled(b), false, 'the second lock waits');
      await a.release();
      const held = await b;
      assert.notEqual(held.key, a.key);
      assert.ok(held.fencingToken > a.fencingToken);
      await held.release();
    } finally {
      await session.close();
    }
  });

  test('txn commits only while held; a lost lock returns false and fires lost$', async () => {
    const lock = await fx.concord.mutex('fence').lock();
    assert.equal(await lock.txn([{ type: 'put', key: 'fence-data', value: 'one' }]), true);
    assert.equal(await fx.cluster.client().get('fence-data').string(), 'one');
    await assert.rejects(lock.txn([{ type: 'nope', key: 'x' } as never]), InvalidArgumentError);
    const lost = firstValueFrom(lock.lost$);
    // Someone breaks the lock (an operator deleting the key).
    await fx.cluster.client().delete().key(lock.key).exec();
    const error = await lost;
    assert.ok(error instanceof LockLostError);
    assert.equal(lock.isHeld, false);
    assert.equal(await lock.txn([{ type: 'put', key: 'fence-data', value: 'two' }]), false);
    assert.equal(await fx.cluster.client().get('fence-data').string(), 'one');
    await lock.release();
  });

  test('a guarded txn from a stale holder fails even before it notices the loss', async () => {
    const session = await fx.concord.session({ ttl: 10 });
    const lock = await fx.concord.mutex('stale', { session }).lock();
    // Revoke the lease behind the session's back: the key goes at once, the session learns of it
    // only at its next keepalive answer.
    await fx.cluster.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    const next = await fx.concord.mutex('stale').lock();
    assert.ok(next.fencingToken > lock.fencingToken);
    assert.equal(await lock.txn([{ type: 'put', key: 'stale-data', value: 'stale' }]), false);
    assert.equal(await fx.cluster.client().get('stale-data').string(), null);
    assert.equal(await next.txn([{ type: 'put', key: 'stale-data', value: 'fresh' }]), true);
    await next.release();
    await session.close();
  });

  test('release is guarded: a late release never deletes a newer key of the same session', async () => {
    const session = await fx.concord.session({ ttl: 10 });
    try {
      const mutex = fx.concord.mutex('guarded', { session });
      const first = await mutex.lock();
      await first.release();
      const second = await mutex.lock();
      await first.release();
      assert.deepEqual(await keysUnder('guarded/'), [second.key]);
      // The same key name re-created under the same lease is a different key (new create revision).
      await fx.cluster.client().delete().key(second.key).exec();
      await fx.cluster.client().put(second.key).value('').lease(session.leaseId).exec();
      await firstValueFrom(second.lost$);
      await second.release();
      assert.deepEqual(await keysUnder('guarded/'), [second.key]);
      await fx.cluster.client().delete().key(second.key).exec();
    } finally {
      await session.close();
    }
  });

  test('a session lost while waiting rejects the wait at once with LockLostError', async () => {
    const holder = await fx.concord.mutex('lost-wait').lock();
    const proxy = await startProxy(fx.cluster.endpoints[0]!);
    const cut = new Concord({ endpoints: [proxy.endpoint], callTimeoutMs: 1_000 });
    try {
      const session = await cut.session({ ttl: 2 });
      const waiting = cut.mutex('lost-wait', { session }).lock();
      await waitUntil(async () => (await keysUnder('lost-wait/')).length === 2, { message: 'waiter queued' });
      proxy.blackhole();
      const lostAt = firstValueFrom(session.lost$).then(() => performance.now());
      await assert.rejects(waiting, (err: unknown) => err instanceof LockLostError);
      const rejectedAt = performance.now();
      assert.ok(rejectedAt - (await lostAt) < 100, 'rejected as soon as the session was lost');
    } finally {
      await holder.release();
      await cut.close();
      await proxy.close();
    }
  });

  test('a wait outlasts etcd being unreachable for less than its TTL and keeps its place', async () => {
    const holder = await fx.concord.mutex('outage').lock();
    const proxy = await startProxy(fx.cluster.endpoints[0]!);
    const cut = new Concord({
      endpoints: [proxy.endpoint],
      callTimeoutMs: 300,
      watch: { stallTimeoutMs: 500 },
    });
    try {
      const session = await cut.session({ ttl: 8 });
      // Entering while unreachable: the put times out and is retried, not reported.
      proxy.blackhole();
      const waiting = cut.mutex('outage', { session }).lock();
      await sleep(1_200);
      assert.equal(await settled(waiting), false, 'still waiting through the outage');
      proxy.restore();
      await waitUntil(async () => (await keysUnder('outage/')).length === 2, { message: 'waiter queued' });
      const queued = (await keysUnder('outage/')).find((key) => key !== holder.key);
      // Waiting while unreachable: the holder leaves meanwhile; the waiter learns it on reconnect.
      proxy.blackhole();
      await holder.release();
      await sleep(1_200);
      proxy.restore();
      const lock = await waiting;
      assert.equal(lock.key, queued);
      assert.ok(lock.fencingToken > holder.fencingToken);
      assert.deepEqual(await keysUnder('outage/'), [lock.key]);
      await lock.release();
      assert.deepEqual(await keysUnder('outage/'), []);
    } finally {
      await holder.release();
      await cut.close();
      await proxy.close();
    }
  });

  test('hold$ acquires on subscribe, releases on unsubscribe, errors with LockLostError on loss', async () => {
    const mutex = fx.concord.mutex('hold');
    const sub = mutex.hold$().subscribe();
    await waitUntil(async () => (await keysUnder('hold/')).length === 1, { message: 'held' });
    sub.unsubscribe();
    await waitUntil(async () => (await keysUnder('hold/')).length === 0, { message: 'released' });

    let handle: LockHandle | undefined;
    const errors: unknown[] = [];
    mutex.hold$().subscribe({ next: (h) => (handle = h), error: (err: unknown) => errors.push(err) });
    await waitUntil(() => handle !== undefined, { message: 'held again' });
    await fx.cluster.client().delete().key(handle!.key).exec();
    await waitUntil(() => errors.length === 1, { message: 'hold$ errored' });
    assert.ok(errors[0] instanceof LockLostError);
    await waitUntil(async () => (await keysUnder('hold/')).length === 0, { message: 'all gone' });
  });

  test('fx.concord.close() releases held locks and rejects waits with ClosedError', async () => {
    const other = new Concord({ endpoints: fx.cluster.endpoints });
    const held = await other.mutex('closing').lock();
    const waiting = other.mutex('closing').lock();
    await waitUntil(async () => (await keysUnder('closing/')).length === 2, { message: 'waiter queued' });
    const outcome = waiting.catch((err: unknown) => err);
    await other.close();
    assert.ok((await outcome) instanceof ClosedError);
    assert.equal(held.isHeld, false);
    assert.deepEqual(await keysUnder('closing/'), []);
  });
});
