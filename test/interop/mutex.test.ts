// shared.concord.mutex(name) against etcd's Go client: `etcdctl lock name` is Go's
// concurrency.NewMutex(session, name). Both put their keys under `<name>/` (Go: `<lease hex>`,
// concord: `<lease hex>-<n>`) and queue by create revision, so they exclude each other and take
// turns in arrival order, in both directions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LockHandle } from '../../src/lock/handle.js';
import { useCluster } from '../support/fixture.js';
import { settled, sleep, waitUntil } from '../support/wait.js';
import { type Contender, etcdctlOf, queue, takeTurns } from './helpers.js';

const shared = useCluster({ concord: {} });
const etcdctl = etcdctlOf(shared);
let seq = 0;

const fresh = () => `interop-lock-${++seq}`;

test('a Go holder (etcdctl lock) excludes concord; concord takes the lock once Go releases it', async () => {
  const name = fresh();
  const go = etcdctl('lock', name);
  const [goKey] = await go.printed(1);
  assert.match(goKey!, new RegExp(`^${name}/[0-9a-f]+$`), "Go's key: <name>/<lease hex>");
  const mutex = shared.concord.mutex(name, { ttl: 5 });
  assert.equal(await mutex.tryLock(), undefined);
  const waiting = mutex.lock();
  await waitUntil(async () => (await queue(shared, `${name}/`)).length === 2, { message: 'concord queued' });
  await sleep(200);
  assert.equal(await settled(waiting), false, 'concord waits while Go holds');
  assert.equal(await go.stop('SIGTERM'), 0);
  const handle = await waiting;
  assert.deepEqual(await queue(shared, `${name}/`), [handle.key], "Go's key is gone");
  await handle.release();
});

test('a concord holder excludes etcdctl lock; Go takes the lock once concord releases it', async () => {
  const name = fresh();
  const handle = await shared.concord.mutex(name, { ttl: 5 }).lock();
  const go = etcdctl('lock', name);
  await waitUntil(async () => (await queue(shared, `${name}/`)).length === 2, { message: 'Go queued' });
  await sleep(300);
  assert.deepEqual(go.lines, [], 'Go waits while concord holds');
  await handle.release();
  const [goKey] = await go.printed(1);
  assert.deepEqual(await queue(shared, `${name}/`), [goKey]);
  assert.equal(await go.stop('SIGINT'), 0);
  assert.deepEqual(await queue(shared, `${name}/`), []);
});

test('Go and concord lockers take turns in the order they queued (FIFO), one at a time', async (t) => {
  const name = fresh();
  const mutex = shared.concord.mutex(name, { ttl: 5 });
  const first = await mutex.lock();
  const contenders: Contender[] = [];
  for (const who of ['go-1', 'concord-2', 'go-3', 'concord-4', 'go-5']) {
    if (who.startsWith('go')) {
      const go = etcdctl('lock', name);
      contenders.push({ name: who, holds: go.printed(1, 30_000), release: () => go.stop() });
    } else {
      const holds = mutex.lock();
      holds.catch(() => undefined);
      contenders.push({ name: who, holds, release: async () => (await holds).release() });
    }
    // Queued (its key exists) before the next one enters: that fixes the expected order.
    await waitUntil(async () => (await queue(shared, `${name}/`)).length === contenders.length + 1, {
      message: `${who} queued`,
    });
  }
  const order = await takeTurns(t, () => first.release(), contenders);
  assert.deepEqual(
    order,
    contenders.map((c) => c.name),
  );
  assert.deepEqual(await queue(shared, `${name}/`), []);
});

test('a Go waiter behind a concord holder that loses its session gets the lock', async () => {
  const name = fresh();
  const session = await shared.concord.session({ ttl: 2 });
  const handle: LockHandle = await shared.concord.mutex(name, { session }).lock();
  const go = etcdctl('lock', name);
  await waitUntil(async () => (await queue(shared, `${name}/`)).length === 2, { message: 'Go queued' });
  // Revoking the lease is what an expiry does to the holder's key.
  await shared.cluster.client().leaseClient.leaseRevoke({ ID: session.leaseId });
  await go.printed(1);
  await waitUntil(() => !handle.isHeld, { message: 'the concord holder noticing its loss' });
  await go.stop();
});
