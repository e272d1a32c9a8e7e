// A session cut off from etcd (its connection blackholed: open but silent) declares itself lost
// before etcd expires its lease, so nobody else can have been handed its keys yet. Timing-sensitive
// by nature (a starved event loop fires timers late), so it runs in the sequential fault suite.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord, type SessionState } from 'concord-etcd';
import { firstValueFrom } from 'rxjs';
import { useCluster } from '../support/fixture.js';
import { sleep, waitUntil } from '../support/wait.js';

const fx = useCluster({ proxy: true });
const MARGIN_MS = 500;

test('blackholed client: expiring$ fires, and the session is dead, before another client sees the lease gone', async (t) => {
  const concord = new Concord({ endpoints: [fx.proxy.endpoint], callTimeoutMs: 1_000 });
  try {
    const session = await concord.session({ ttl: 2 });
    const states: SessionState[] = [];
    session.state$.subscribe((s) => states.push(s));
    await sleep(1_000);
    const lost = firstValueFrom(session.lost$).then(() => Date.now());
    const expiring = firstValueFrom(session.expiring$(MARGIN_MS)).then(() => Date.now());
    const blackholedAt = Date.now();
    fx.proxy.blackhole();
    let goneAt = 0;
    let aliveWhenGone = true;
    let leftWhenGone = Number.NaN;
    await waitUntil(
      async () => {
        const res = await fx.cluster.client().leaseClient.leaseTimeToLive({ ID: session.leaseId });
        if (Number(res.TTL) !== -1) return false;
        // Read at once, in the same turn as etcd's answer: this is what concord's own checks see.
        aliveWhenGone = session.isAlive;
        leftWhenGone = session.timeLeft();
        goneAt = Date.now();
        return true;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: 'etcd to expire the lease' },
    );
    const lostAt = await lost;
    const expiringAt = await expiring;
    const last = states.at(-2);
    const deadline = last && last.status !== 'lost' && last.status !== 'closed' ? last.expiresAt : Number.NaN;
    console.log(
      `blackholed at 0 ms: local deadline ${(deadline - blackholedAt).toFixed(0)} ms, lost$ delivered at ` +
        `${lostAt - blackholedAt} ms, etcd reported the lease gone at ${goneAt - blackholedAt} ms`,
    );
    t.diagnostic(
      `expiring$(${MARGIN_MS}) fired at ${expiringAt - blackholedAt} ms: ${(deadline - expiringAt).toFixed(0)} ms before the ` +
        `local deadline, ${goneAt - expiringAt} ms before etcd's expiry`,
    );
    assert.ok(deadline < goneAt, `the local deadline (${deadline}) precedes etcd's expiry (${goneAt})`);
    assert.ok(
      expiringAt < goneAt,
      `expiring$ (${expiringAt}) fired before etcd expired the lease (${goneAt})`,
    );
    assert.ok(expiringAt <= lostAt, `expiring$ (${expiringAt}) no later than lost$ (${lostAt})`);
    // lost$ is a timer at the deadline: never early. Its delivery may trail etcd's expiry by the
    // event loop's lateness (etcd checks expiries every 500 ms, sometimes right at the deadline),
    // which is why every check concord makes reads the clock instead of waiting for it:
    assert.ok(
      lostAt >= Math.floor(deadline),
      `lost$ (${lostAt}) not before the local deadline (${deadline})`,
    );
    assert.equal(aliveWhenGone, false, 'the session reports itself dead once etcd has expired its lease');
    assert.equal(leftWhenGone, 0, 'no lease budget left once etcd has expired the lease');
    assert.deepEqual(
      states.slice(-2).map((s) => s.status),
      ['expiring', 'lost'],
    );
  } finally {
    // Restored here, not after the assertions: a failure must not leave the next test blackholed.
    fx.proxy.restore();
    await concord.close();
  }
});

test('close() on a blackholed connection resolves by the local deadline, not after the revoke retries', async (t) => {
  const concord = new Concord({ endpoints: [fx.proxy.endpoint], callTimeoutMs: 1_000 });
  try {
    const session = await concord.session({ ttl: 2 });
    fx.proxy.blackhole();
    const left = session.timeLeft();
    const started = Date.now();
    await session.close();
    const took = Date.now() - started;
    t.diagnostic(`close() took ${took} ms with ${left.toFixed(0)} ms of budget left`);
    // Without the deadline it waits out every retry of the revoke (4 attempts of 1 s here).
    assert.ok(
      took < left + 1_000,
      `close() waited ${took} ms, past the local deadline (${left.toFixed(0)} ms)`,
    );
  } finally {
    fx.proxy.restore();
    await concord.close();
  }
});
