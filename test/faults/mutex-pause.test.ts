import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Concord } from 'concord-etcd';
import { useCluster } from '../support/fixture.js';
import { spawnWorker } from '../support/worker.js';

const HOLDER = new URL('./fixtures/mutex-holder.ts', import.meta.url).pathname;

describe('Mutex holder paused past its TTL', () => {
  const shared = useCluster();

  test('loses the lock; the next holder gets it only after etcd expired the lease; the resumed holder cannot write', async () => {
    const concord = new Concord({ endpoints: shared.cluster.endpoints });
    const worker = spawnWorker(HOLDER, {
      env: { ETCD_ENDPOINTS: shared.cluster.endpoints.join(','), MUTEX_NAME: 'paused', MUTEX_TTL: '2' },
    });
    try {
      const held = await worker.waitFor((m) => m.type === 'held', 15_000);
      const key = String(held.key);
      const [kv] = (await shared.cluster.client().getAll().prefix(key).exec()).kvs;
      assert.ok(kv, 'the holder key exists');
      const leaseId = kv.lease;

      worker.pause();
      const pausedAt = Date.now();
      const next = await concord.mutex('paused').lock();
      const acquiredAt = Date.now();
      // Acquisition follows the deletion of the holder's key, which etcd does when it expires the lease.
      const ttl = await shared.cluster.client().leaseClient.leaseTimeToLive({ ID: leaseId });
      assert.equal(Number(ttl.TTL), -1, 'the paused holder lease is gone when the next holder acquires');
      // etcd counts the TTL from the last keepalive it received, at most a third of the TTL before the pause.
      assert.ok(acquiredAt - pausedAt >= 1_200, `not handed on before the TTL (${acquiredAt - pausedAt} ms)`);
      assert.ok(next.fencingToken > BigInt(String(held.token)));

      // The request is already waiting in the pipe when the process wakes up: the holder must see
      // the loss before (or while) it acts on it.
      const since = worker.all().length;
      worker.send({ type: 'txn' });
      worker.resume();
      const resumedAt = Date.now();
      const answer = await worker.waitFor((m) => m.type === 'txn', 10_000, { since });
      const lost = await worker.waitFor((m) => m.type === 'lost', 10_000);
      console.log(
        `paused holder: next holder acquired ${acquiredAt - pausedAt} ms after the pause; ` +
          `after resume, lost$ fired at +${Number(lost.at) - resumedAt} ms, txn answered ok=${String(answer.ok)}`,
      );
      assert.equal(answer.ok, false, 'the resumed holder txn fails');
      assert.equal(answer.isHeld, false);
      assert.notEqual(answer.lostAt, null, 'lost$ had fired by the time the txn answered');
      assert.ok(Number(lost.at) - resumedAt < 1_000, 'lost$ fires at once after resume');
      assert.equal(
        await shared.cluster.client().get('paused-data').string(),
        null,
        'nothing written by the stale holder',
      );
      assert.equal(await next.txn([{ type: 'put', key: 'paused-data', value: 'new holder' }]), true);
      await next.release();
    } finally {
      worker.resume();
      await worker.kill();
      await concord.close();
    }
  });
});
