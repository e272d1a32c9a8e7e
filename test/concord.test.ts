import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Concord, type ConnectionState, InvalidArgumentError } from 'concord-etcd';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { useCluster } from './support/fixture.js';
import { sleep } from './support/wait.js';

describe('Concord entry point', () => {
  const shared = useCluster();

  test('state$ follows the only member: connected, disconnected when it is killed, connected when it is back', async () => {
    const concord = new Concord({
      endpoints: shared.cluster.endpoints,
      probeIntervalMs: 100,
      callTimeoutMs: 500,
    });
    try {
      const seen: ConnectionState[] = [];
      const sub = concord.state$.subscribe((s) => seen.push(s));
      await firstValueFrom(concord.state$.pipe(filter((s) => s === 'connected')));
      const member = shared.cluster.members[0]!;
      await member.kill();
      await firstValueFrom(concord.state$.pipe(filter((s) => s === 'disconnected')));
      await member.start();
      await firstValueFrom(concord.state$.pipe(filter((s) => s === 'connected')));
      sub.unsubscribe();
      assert.deepEqual(seen, ['connecting', 'connected', 'disconnected', 'connected']);
    } finally {
      await concord.close();
    }
  });

  test('cancelling many watches back to back never makes later calls fail (no circuit breaker)', async () => {
    const concord = new Concord({ endpoints: shared.cluster.endpoints });
    try {
      for (let i = 0; i < 8; i++) {
        const sub = concord.watch({ prefix: `breaker/${i}/` }).subscribe();
        await sleep(20);
        sub.unsubscribe();
      }
      // etcd3 opens one stream per namespace and cancels it with its last watcher: with etcd3's
      // default per-host breaker, cancelling 3+ such streams back to back opens the breaker
      // ("Execution prevented because the circuit breaker is open") for 5 s.
      const watchers = [];
      for (let i = 0; i < 4; i++)
        watchers.push(await concord.etcd.namespace(`breaker/ns${i}/`).watch().prefix('a').create());
      for (const watcher of watchers) await watcher.cancel();
      await concord.etcd.put('breaker/after').value('ok');
      assert.equal(await concord.etcd.get('breaker/after').string(), 'ok');
      const lease = await concord.etcd.leaseClient.leaseGrant({ TTL: 5 });
      assert.ok(BigInt(lease.ID) > 0n);
      await concord.etcd.leaseClient.leaseRevoke({ ID: lease.ID });
    } finally {
      await concord.close();
    }
  });

  test('namespace prefixes every key concord writes and is stripped from what it reports', async () => {
    const concord = new Concord({ endpoints: shared.cluster.endpoints, namespace: 'tenant-a/' });
    try {
      // The first batch is the progress batch saying where the watch starts; the put follows.
      const batches = firstValueFrom(
        concord.watch({ prefix: 'cfg/' }).pipe(
          filter((b) => b.type === 'events'),
          take(1),
          toArray(),
        ),
      );
      await sleep(100);
      await shared.cluster.client().put('tenant-a/cfg/x').value('1');
      const [batch] = await batches;
      assert.equal(batch?.type, 'events');
      assert.equal(batch?.type === 'events' ? batch.events[0]?.kv.key : undefined, 'cfg/x');
    } finally {
      await concord.close();
    }
  });

  test('close() is idempotent, completes state$ with closed, and works as asyncDispose', async () => {
    const states: ConnectionState[] = [];
    let completed = false;
    {
      await using concord = new Concord({ endpoints: shared.cluster.endpoints });
      concord.state$.subscribe({ next: (s) => states.push(s), complete: () => (completed = true) });
      await Promise.all([concord.close(), concord.close()]);
      await concord.close();
    }
    assert.equal(states.at(-1), 'closed');
    assert.equal(completed, true);
  });

  test('bad options are InvalidArgumentError naming the option', () => {
    const cases: Array<[unknown, string]> = [
      [{ endpoints: [] }, 'options.endpoints'],
      [{ endpoints: 'http://a b:1' }, 'options.endpoints'],
      [{ endpoints: [42] }, 'options.endpoints'],
      [{ namespace: 7 }, 'options.namespace'],
      [{ auth: { username: '', password: 'x' } }, 'options.auth.username'],
      [{ auth: { username: 'u' } }, 'options.auth.password'],
      [{ tls: { cert: 'x' } }, 'options.tls'],
      [{ tls: { ca: 5 } }, 'options.tls.ca'],
      [{ callTimeoutMs: 0 }, 'options.callTimeoutMs'],
      [{ watch: { stallTimeoutMs: 1.5 } }, 'options.watch.stallTimeoutMs'],
      [{ watch: { nope: 1 } }, 'options.watch.nope'],
      [{ endpoint: 'x' }, 'options.endpoint'],
    ];
    for (const [options, argument] of cases) {
      assert.throws(
        () => new Concord(options as never),
        (err: unknown) =>
          err instanceof InvalidArgumentError && err.argument === argument && err.code === 'INVALID_ARGUMENT',
        `expected InvalidArgumentError for ${argument}`,
      );
    }
  });

  test('a password never appears in the error for bad auth options', () => {
    const err = (() => {
      try {
        new Concord({ auth: { username: 'u', password: 'hunter2' }, endpoints: [] });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(err instanceof InvalidArgumentError);
    assert.ok(!err.message.includes('hunter2'));
  });

  test('endpoints default to ETCD_ENDPOINTS', async () => {
    const saved = process.env.ETCD_ENDPOINTS;
    process.env.ETCD_ENDPOINTS = shared.cluster.endpoints.join(',');
    const concord = new Concord();
    try {
      await concord.etcd.put('env/default').value('yes');
      assert.equal(await shared.cluster.client().get('env/default').string(), 'yes');
    } finally {
      process.env.ETCD_ENDPOINTS = saved;
      await concord.close();
    }
  });
});
