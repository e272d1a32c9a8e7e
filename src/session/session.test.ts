import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { filter, firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { type EtcdCluster, startCluster } from '../../test/support/etcd.js';
import { startProxy } from '../../test/support/proxy.js';
import { sleep, waitUntil } from '../../test/support/wait.js';
import { Concord, runtimeOf } from '../concord.js';
import { ClosedError, InvalidArgumentError, SessionLostError } from '../errors.js';
import { keepAliveOf } from './keepalive.js';
import type { SessionState } from './types.js';

describe('Session', () => {
  let cluster: EtcdCluster;

  before(async () => {
    cluster = await startCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  async function remainingTtl(leaseId: string): Promise<number> {
    const res = await cluster.client().leaseClient.leaseTimeToLive({ ID: leaseId });
    return Number(res.TTL);
  }

  async function leaseCount(): Promise<number> {
    return (await cluster.client().leaseClient.leaseLeases()).leases.length;
  }

  test('a TTL below 2, not an integer, or an unknown option is an InvalidArgumentError and grants nothing', async () => {
    const concord = new Concord({ endpoints: cluster.endpoints });
    try {
      const before = await leaseCount();
      for (const ttl of [1, 0, -5, 2.5, Number.NaN, '10' as unknown as number]) {
        await assert.rejects(concord.session({ ttl }), (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError);
          assert.equal(err.argument, 'options.ttl');
          return true;
        });
      }
      await assert.rejects(
        concord.session({ tll: 5 } as unknown as { ttl: number }),
        (err: unknown) => err instanceof InvalidArgumentError && err.argument === 'options.tll',
      );
      assert.equal(await leaseCount(), before);
    } finally {
      await concord.close();
    }
  });

  test('keepalives hold a 2 s lease well past its TTL, and every session shares one keepalive stream', async () => {
    const concord = new Concord({ endpoints: cluster.endpoints });
    try {
      const member = cluster.members[0]!;
      const streamsBefore = await member.metric(
        'grpc_server_started_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"}',
      );
      const sessions = await Promise.all([2, 2, 5].map((ttl) => concord.session({ ttl })));
      assert.equal(sessions[0]!.ttl, 2);
      const states: SessionState[] = [];
      sessions[0]!.state$.subscribe((s) => states.push(s));
      const firstDeadline = sessions[0]!.expiresAt;
      await sleep(4_500);
      for (const s of sessions) {
        assert.ok((await remainingTtl(s.leaseId)) > 0, `lease ${s.leaseId} is still alive`);
        assert.equal(s.isLost, false);
      }
      // Renewals move the deadline without a state$ emission (the status stays alive).
      assert.deepEqual(
        states.map((s) => s.status),
        ['alive'],
      );
      const lastDeadline = sessions[0]!.expiresAt;
      assert.ok(lastDeadline > firstDeadline + 2_500, 'the deadline moves with each renewal');
      assert.ok(lastDeadline <= Date.now() + 2_000 + 50, 'the deadline is never past send time + TTL');
      assert.equal(keepAliveOf(runtimeOf(concord)).streams, 1);
      const streamsAfter = await member.metric(
        'grpc_server_started_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"}',
      );
      assert.equal(streamsAfter - streamsBefore, 1, 'one LeaseKeepAlive stream for three leases');
    } finally {
      await concord.close();
    }
  });

  test('close() revokes the lease, completes lost$ without emitting, aborts signal with ClosedError; idempotent', async () => {
    const concord = new Concord({ endpoints: cluster.endpoints });
    try {
      const session = await concord.session({ ttl: 30 });
      await cluster.client().put('session/closed-key').value('x').lease(session.leaseId).exec();
      const lost = lastValueFrom(session.lost$.pipe(toArray()));
      const states = lastValueFrom(session.state$.pipe(toArray()));
      await Promise.all([session.close(), session.close()]);
      await session.close();
      assert.deepEqual(await lost, []);
      assert.deepEqual(
        (await states).map((s) => s.status),
        ['alive', 'closed'],
      );
      assert.ok(session.signal.reason instanceof ClosedError);
      assert.equal(await remainingTtl(session.leaseId), -1);
      assert.equal(await cluster.client().get('session/closed-key').string(), null);
      assert.equal(keepAliveOf(runtimeOf(concord)).has(session.leaseId), false);
    } finally {
      await concord.close();
    }
  });

  test('concord.close() revokes every session it created', async () => {
    const concord = new Concord({ endpoints: cluster.endpoints });
    const a = await concord.session({ ttl: 30 });
    const b = await concord.session({ ttl: 30 });
    await concord.close();
    assert.equal(await remainingTtl(a.leaseId), -1);
    assert.equal(await remainingTtl(b.leaseId), -1);
    await assert.rejects(concord.session(), ClosedError);
  });

  test('a lease revoked behind its back makes the session lost within a keepalive interval', async () => {
    const concord = new Concord({ endpoints: cluster.endpoints });
    try {
      const session = await concord.session({ ttl: 3 });
      const revokedAt = Date.now();
      await cluster.client().leaseClient.leaseRevoke({ ID: session.leaseId });
      await firstValueFrom(session.lost$);
      assert.ok(Date.now() - revokedAt < 2_500, 'noticed on the next keepalive answer (TTL/3 = 1 s)');
      assert.equal(session.isLost, true);
      assert.ok(session.signal.reason instanceof SessionLostError);
      const late = await firstValueFrom(session.state$);
      assert.equal(late.status, 'lost');
      // A late subscriber still hears about the loss, at once.
      await firstValueFrom(session.lost$);
      await session.close();
      assert.equal(keepAliveOf(runtimeOf(concord)).streams, 0, 'the stream closes with its last lease');
    } finally {
      await concord.close();
    }
  });

  test('after the keepalive stream is cut, it reconnects and the session stays alive', async () => {
    const proxy = await startProxy(cluster.endpoints[0]!);
    const concord = new Concord({ endpoints: [proxy.endpoint] });
    try {
      const session = await concord.session({ ttl: 4 });
      const statuses: string[] = [];
      session.state$.subscribe((s) => statuses.push(s.status));
      await sleep(300);
      proxy.cut();
      await firstValueFrom(session.state$.pipe(filter((s) => s.status === 'expiring')));
      await waitUntil(() => statuses.at(-1) === 'alive', { timeoutMs: 4_000, message: 'alive again' });
      await sleep(4_500);
      assert.equal(session.isLost, false);
      assert.ok((await remainingTtl(session.leaseId)) > 0);
    } finally {
      await concord.close();
      await proxy.close();
    }
  });
});
