// Traps a new user met in the first hour (issue 13): each test fails on the code before its fix.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Concord,
  InvalidArgumentError,
  isConcordError,
  type Leadership,
  type RegistrationState,
  type SessionState,
} from 'concord-etcd';
import { filter, firstValueFrom, type Observable } from 'rxjs';
import { useCluster } from './support/fixture.js';
import { settled, sleep, waitUntil, within } from './support/wait.js';

/**
 * Resolves with the leadership `campaign` emits, keeping the subscription (unsubscribing would
 * resign: `firstValueFrom` cannot be used); `resign()` ends it.
 */
function elected(campaign: Observable<Leadership>): Promise<Leadership> {
  return new Promise((resolve, reject) => {
    campaign.subscribe({ next: resolve, error: reject });
  });
}

describe('first hour', () => {
  const fx = useCluster();

  test('a namespace without a trailing / gets one, like a config prefix; an empty one stays empty', async () => {
    const plain = new Concord({ endpoints: fx.cluster.endpoints, namespace: 'tenant-c' });
    const slashed = new Concord({ endpoints: fx.cluster.endpoints, namespace: 'tenant-d/' });
    const none = new Concord({ endpoints: fx.cluster.endpoints, namespace: '' });
    try {
      await plain.config('app').set('db/pool', 7);
      await slashed.config('app').set('db/pool', 8);
      await none.config('first-hour-ns').set('x', 9);
      const handle = await plain.mutex('orders').lock();
      const raw = fx.cluster.client();
      assert.equal(await raw.get('tenant-c/app/db/pool').string(), '7');
      assert.equal(await raw.get('tenant-d/app/db/pool').string(), '8');
      assert.equal(await raw.get('first-hour-ns/x').string(), '9');
      assert.deepEqual(await raw.getAll().prefix('tenant-corders').keys(), []);
      assert.deepEqual(await raw.getAll().prefix('tenant-c/orders/').keys(), [`tenant-c/${handle.key}`]);
      assert.match(handle.key, /^orders\//, 'keys are reported without the namespace');
      await handle.release();
    } finally {
      await Promise.all([plain.close(), slashed.close(), none.close()]);
    }
  });

  test('session.state$ emits on status changes only, not on every keepalive', async () => {
    const concord = new Concord({ endpoints: fx.cluster.endpoints });
    try {
      const session = await concord.session({ ttl: 2 });
      const seen: SessionState[] = [];
      const sub = session.state$.subscribe((s) => seen.push(s));
      // A keepalive goes out every TTL/3 (~667 ms); each answer moves the deadline.
      const first = session.expiresAt;
      await waitUntil(() => session.expiresAt > first + 1_000, {
        timeoutMs: 10_000,
        message: 'at least two keepalives answered',
      });
      sub.unsubscribe();
      assert.deepEqual(
        seen.map((s) => s.status),
        ['alive'],
      );
      await session.close();
    } finally {
      await concord.close();
    }
  });

  test('close() ends a registration that moved to its own session with deregistered only, no reregistering', async () => {
    const concord = new Concord({ endpoints: fx.cluster.endpoints, namespace: 'first-hour-reg/' });
    const shared = await concord.session({ ttl: 5 });
    const reg = await concord
      .registry()
      .register({ service: 'api', id: 'i1', address: '10.0.0.1:80' }, { session: shared });
    const states: RegistrationState[] = [];
    reg.state$.subscribe((s) => states.push(s));
    // Closing the shared session moves the registration to a session of its own.
    await shared.close();
    await firstValueFrom(
      reg.state$.pipe(filter((s) => s.status === 'registered' && s.leaseId !== shared.leaseId)),
    );
    const before = states.length;
    await concord.close();
    assert.deepEqual(
      states.slice(before).map((s) => s.status),
      ['deregistered'],
      'a clean shutdown does not look like a loss',
    );
    assert.deepEqual(await fx.cluster.client().getAll().prefix('first-hour-reg/').keys(), []);
  });

  test("lock.txn and leadership.txn refuse keys inside their own queue prefix (the README's old orders/last), writing nothing", async () => {
    const concord = new Concord({ endpoints: fx.cluster.endpoints, namespace: 'first-hour-txn/' });
    try {
      const lock = await concord.mutex('orders').lock();
      const revision = await fx.cluster.revision();
      await assert.rejects(
        lock.txn([
          { type: 'put', key: 'orders-data/total', value: '1' },
          { type: 'put', key: 'orders/last', value: '42' },
        ]),
        (err: unknown) =>
          err instanceof InvalidArgumentError &&
          err.argument === 'ops[1].key' &&
          /queue prefix 'orders\/'/.test(err.message),
      );
      await assert.rejects(lock.txn([{ type: 'delete', key: lock.key }]), InvalidArgumentError);
      assert.equal(await fx.cluster.revision(), revision, 'nothing was written');
      // Beside the name, not under it, is fine; and the next lock() is not blocked.
      assert.equal(await lock.txn([{ type: 'put', key: 'orders-last', value: '42' }]), true);
      await lock.release();
      await within(concord.mutex('orders').lock(), 'the next lock()').then((h) => h.release());

      const rw = await concord.rwlock('catalog').write();
      await assert.rejects(
        rw.txn([{ type: 'put', key: 'catalog/read/x', value: 'v' }]),
        InvalidArgumentError,
      );
      await rw.release();
      const leadership = await elected(concord.election('leader', { ttl: 5 }).campaign('me'));
      await assert.rejects(
        leadership.txn([{ type: 'put', key: 'election/leader/x', value: 'v' }]),
        (err: unknown) => err instanceof InvalidArgumentError && err.argument === 'ops[0].key',
      );
      assert.equal(await leadership.txn([{ type: 'put', key: 'leader/x', value: 'v' }]), true);
      await leadership.resign();
    } finally {
      await concord.close();
    }
  });

  test('keys under a lock, semaphore or election prefix that are not queue entries never block a wait', async () => {
    const ns = 'first-hour-strays/';
    const concord = new Concord({ endpoints: fx.cluster.endpoints, namespace: ns });
    const raw = fx.cluster.client().namespace(ns);
    try {
      const { ID: lease } = await raw.leaseClient.leaseGrant({ TTL: 30 });
      const hex = BigInt(lease).toString(16);
      for (const name of ['m', 'rw', 'sem', 'election/e']) {
        await raw.put(`${name}/last`).value('no lease');
        await raw.put(`${name}/${hex}`).value('queue-shaped, no lease');
        await raw.put(`${name}/data`).value('leased, not queue-shaped').lease(lease).exec();
        await raw.put(`${name}/beef`).value('hex, but not its lease id').lease(lease).exec();
      }
      await raw.put('rw/write/x').value('no lease');

      const held = await within(concord.mutex('m').lock(), 'mutex lock()');
      const next = concord.mutex('m').lock();
      await sleep(200);
      assert.equal(await settled(next), false, 'a real holder still excludes');
      await held.release();
      await within(next, 'the waiter behind it').then((h) => h.release());
      const tried = await concord.mutex('m').tryLock();
      assert.ok(tried?.isHeld, 'tryLock() takes a lock that only stray keys sit under');
      await tried.release();

      await within(concord.rwlock('rw').write(), 'rwlock write()').then((h) => h.release());
      await within(concord.rwlock('rw').read(), 'rwlock read()').then((h) => h.release());
      assert.ok(
        await concord
          .rwlock('rw')
          .tryWrite()
          .then((h) => h?.release().then(() => true)),
      );

      const permit = await within(concord.semaphore('sem', { permits: 1 }).acquire(), 'semaphore acquire()');
      assert.equal(await concord.semaphore('sem', { permits: 1 }).tryAcquire(), undefined);
      await permit.release();
      assert.ok(
        await concord
          .semaphore('sem', { permits: 1 })
          .tryAcquire()
          .then((h) => h?.release().then(() => true)),
      );

      const election = concord.election('e', { ttl: 5 });
      const leadership = await within(elected(election.campaign('real')), 'campaign');
      assert.equal((await election.leader())?.value, 'real');
      assert.equal((await firstValueFrom(election.leader$))?.value, 'real');
      await leadership.resign();
      assert.equal(await election.leader(), undefined);
      assert.equal(await firstValueFrom(election.leader$), undefined);
    } finally {
      await concord.close();
    }
  });

  test("etcd's Go and etcd3-npm queue keys (<name>/<lease hex>, election/<name>/<lease decimal>) still count as queue entries", async () => {
    const ns = 'first-hour-interop/';
    const concord = new Concord({ endpoints: fx.cluster.endpoints, namespace: ns });
    const raw = fx.cluster.client().namespace(ns);
    try {
      // What concurrency.NewMutex(s, 'jobs') and `etcdctl lock jobs` write: <name>/<lease hex>.
      const go = await raw.leaseClient.leaseGrant({ TTL: 30 });
      await raw
        .put(`jobs/${BigInt(go.ID).toString(16)}`)
        .value('')
        .lease(go.ID)
        .exec();
      const waiting = concord.mutex('jobs').lock();
      assert.equal(await concord.mutex('jobs').tryLock(), undefined);
      await sleep(300);
      assert.equal(await settled(waiting), false, "concord queues behind Go's lock holder");
      await raw.leaseClient.leaseRevoke({ ID: go.ID });
      await within(waiting, 'the lock after the Go holder left').then((h) => h.release());

      // What etcd3 npm's Election writes: election/<name>/<lease id, decimal>.
      const npm = await raw.leaseClient.leaseGrant({ TTL: 30 });
      await raw.put(`election/e/${npm.ID}`).value('npm-leader').lease(npm.ID).exec();
      const election = concord.election('e', { ttl: 5 });
      assert.equal((await election.leader())?.value, 'npm-leader');
      const campaign = elected(election.campaign('concord'));
      await sleep(300);
      assert.equal(await settled(campaign), false, 'concord campaigns behind the etcd3 npm leader');
      await raw.leaseClient.leaseRevoke({ ID: npm.ID });
      const leadership = await within(campaign, 'leadership after the npm leader left');
      assert.equal((await election.leader())?.value, 'concord');
      await leadership.resign();
    } finally {
      await concord.close();
    }
  });

  test('documented: hold$() with firstValueFrom releases at once; a timed-out lock() rejects with the signal reason, not a concord error', async () => {
    const concord = new Concord({ endpoints: fx.cluster.endpoints, namespace: 'first-hour-docs/' });
    const keys = () => fx.cluster.client().getAll().prefix('first-hour-docs/').keys();
    try {
      const handle = await firstValueFrom(concord.mutex('once').hold$());
      await waitUntil(() => !handle.isHeld, { message: 'the handle is released after firstValueFrom' });
      await waitUntil(async () => (await keys()).length === 0, { message: 'its key deleted' });

      const holder = await concord.mutex('busy').lock();
      const err = await concord
        .mutex('busy')
        .lock({ signal: AbortSignal.timeout(300) })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err instanceof DOMException && err.name === 'TimeoutError', `got ${String(err)}`);
      assert.equal(isConcordError(err), false);
      assert.deepEqual(await keys(), [`first-hour-docs/${holder.key}`], 'the timed-out waiter left nothing');
      await holder.release();
    } finally {
      await concord.close();
    }
  });
});
