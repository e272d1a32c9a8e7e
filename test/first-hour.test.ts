// Traps a new user met in the first hour (issue 13): each test fails on the code before its fix.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Concord, type RegistrationState, type SessionState } from 'concord-etcd';
import { filter, firstValueFrom } from 'rxjs';
import { useCluster } from './support/fixture.js';
import { waitUntil } from './support/wait.js';

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
});
