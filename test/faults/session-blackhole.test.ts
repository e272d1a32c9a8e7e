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

test('blackholed client: expiring$, then lost$, fire before another client sees the lease gone', async (t) => {
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
    await waitUntil(
      async () => {
        const res = await fx.cluster.client().leaseClient.leaseTimeToLive({ ID: session.leaseId });
        if (Number(res.TTL) !== -1) return false;
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
      `blackholed at 0 ms: local deadline ${deadline - blackholedAt} ms, session lost locally at ` +
        `${lostAt - blackholedAt} ms, etcd reported the lease gone at ${goneAt - blackholedAt} ms`,
    );
    t.diagnostic(
      `expiring$(${MARGIN_MS}) fired at ${expiringAt - blackholedAt} ms: ${(deadline - expiringAt).toFixed(0)} ms before the ` +
        `local deadline, ${goneAt - expiringAt} ms before etcd's expiry`,
    );
    assert.ok(expiringAt <= lostAt, `expiring$ (${expiringAt}) no later than lost$ (${lostAt})`);
    assert.ok(deadline < goneAt, `the local deadline (${deadline}) precedes etcd's expiry (${goneAt})`);
    assert.ok(lostAt < goneAt, `lost locally (${lostAt}) before etcd expired it (${goneAt})`);
    assert.deepEqual(
      states.slice(-2).map((s) => s.status),
      ['expiring', 'lost'],
    );
    fx.proxy.restore();
  } finally {
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
