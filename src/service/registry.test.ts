import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { filter, firstValueFrom, type Observable, timeout } from 'rxjs';
import { type EtcdCluster, startCluster } from '../../test/support/etcd.js';
import { sleep, waitUntil } from '../../test/support/wait.js';
import { Concord } from '../concord.js';
import { ClosedError, InstanceRemovedError, InvalidArgumentError, SessionLostError } from '../errors.js';
import type { RegistrationState } from './types.js';

let cluster: EtcdCluster;
let seq = 0;

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
});

/** A Concord in a namespace of its own, so tests never see each other's keys. */
function open(): { concord: Concord; ns: string } {
  const ns = `registry-test-${++seq}/`;
  return { concord: new Concord({ endpoints: cluster.endpoints, namespace: ns }), ns };
}

async function read(key: string): Promise<{ value: string; lease: string } | undefined> {
  const res = await cluster.client().kv.range({ key: Buffer.from(key) });
  const kv = res.kvs[0];
  return kv ? { value: kv.value.toString(), lease: String(kv.lease) } : undefined;
}

async function countUnder(prefix: string): Promise<number> {
  return Number(await cluster.client().getAll().prefix(prefix).count());
}

function until<T>(source: Observable<T>, pred: (v: T) => boolean, ms = 10_000): Promise<T> {
  return firstValueFrom(source.pipe(filter(pred), timeout(ms)));
}

describe('registry', () => {
  test('register writes { address, meta, registeredAt } under a session lease', async () => {
    const { concord, ns } = open();
    try {
      const before = Date.now();
      const reg = await concord
        .registry()
        .register(
          { service: 'user', id: 'i1', address: '10.0.0.5:9000', meta: { zone: 'a', weight: 2 } },
          { ttl: 5 },
        );
      assert.equal(reg.key, 'services/user/i1');
      const state = await firstValueFrom(reg.state$);
      assert.equal(state.status, 'registered');
      const stored = await read(`${ns}services/user/i1`);
      assert.ok(stored, 'the instance key exists');
      const value = JSON.parse(stored.value) as Record<string, unknown>;
      assert.deepEqual(Object.keys(value).sort(), ['address', 'meta', 'registeredAt']);
      assert.equal(value.address, '10.0.0.5:9000');
      assert.deepEqual(value.meta, { zone: 'a', weight: 2 });
      const registeredAt = Date.parse(String(value.registeredAt));
      assert.ok(registeredAt >= before - 1000 && registeredAt <= Date.now() + 1000, 'registeredAt is now');
      assert.ok(state.status === 'registered' && stored.lease === state.leaseId, 'key is under the lease');
      const lease = await cluster.client().leaseClient.leaseTimeToLive({ ID: stored.lease, keys: true });
      assert.ok(Number(lease.TTL) > 0 && Number(lease.TTL) <= 5, `lease TTL ${lease.TTL}`);
      assert.deepEqual(
        lease.keys.map((k) => k.toString()),
        [`${ns}services/user/i1`],
      );
    } finally {
      await concord.close();
    }
  });

  test('an id is generated when none is given; the default prefix is services/ and a custom one is used', async () => {
    const { concord, ns } = open();
    try {
      const reg = await concord.registry().register({ service: 'api', address: 'localhost:80' });
      assert.match(reg.id, /^[0-9a-f-]{36}$/);
      assert.ok(await read(`${ns}services/api/${reg.id}`));
      const custom = await concord
        .registry({ prefix: 'svc/v1/' })
        .register({ service: 'api', id: 'x', address: 'h:1' });
      assert.equal(custom.key, 'svc/v1/api/x');
      assert.ok(await read(`${ns}svc/v1/api/x`));
    } finally {
      await concord.close();
    }
  });

  test('update() changes address and meta in place: same key, same lease, registeredAt kept', async () => {
    const { concord, ns } = open();
    try {
      const reg = await concord
        .registry()
        .register({ service: 'user', id: 'i1', address: 'a:1', meta: { v: 1 } });
      const first = await read(`${ns}services/user/i1`);
      await reg.update({ address: 'b:2' });
      let stored = await read(`${ns}services/user/i1`);
      let value = JSON.parse(stored!.value) as Record<string, unknown>;
      assert.equal(value.address, 'b:2');
      assert.deepEqual(value.meta, { v: 1 }, 'meta kept when omitted');
      assert.equal(stored!.lease, first!.lease);
      assert.equal(value.registeredAt, (JSON.parse(first!.value) as Record<string, unknown>).registeredAt);
      await reg.update({ meta: { v: 2, tags: ['x'] } });
      stored = await read(`${ns}services/user/i1`);
      value = JSON.parse(stored!.value) as Record<string, unknown>;
      assert.equal(value.address, 'b:2');
      assert.deepEqual(value.meta, { v: 2, tags: ['x'] });
      assert.equal(reg.address, 'b:2');
      const state = await firstValueFrom(reg.state$);
      assert.ok(state.status === 'registered' && state.leaseId === first!.lease);
      await assert.rejects(reg.update({ address: 'has space:1' }), InvalidArgumentError);
    } finally {
      await concord.close();
    }
  });

  test('deregister() removes the instance at once, revokes its own lease, ends state$; idempotent', async () => {
    const { concord, ns } = open();
    try {
      const reg = await concord.registry().register({ service: 'user', id: 'i1', address: 'a:1' });
      const states: RegistrationState[] = [];
      let completed = false;
      reg.state$.subscribe({ next: (s) => states.push(s), complete: () => (completed = true) });
      const leaseId = (states[0] as { leaseId: string }).leaseId;
      await reg.deregister();
      assert.equal(await read(`${ns}services/user/i1`), undefined);
      const lease = await cluster.client().leaseClient.leaseTimeToLive({ ID: leaseId });
      assert.equal(Number(lease.TTL), -1, 'its own lease was revoked');
      assert.deepEqual(
        states.map((s) => s.status),
        ['registered', 'deregistered'],
      );
      assert.ok(completed);
      assert.deepEqual(
        await firstValueFrom(reg.state$),
        { status: 'deregistered' },
        'replayed to late subscribers',
      );
      await reg.deregister();
      await assert.rejects(reg.update({ address: 'b:2' }), ClosedError);
    } finally {
      await concord.close();
    }
  });

  test('Symbol.asyncDispose deregisters (await using)', async () => {
    const { concord, ns } = open();
    try {
      {
        await using reg = await concord
          .registry()
          .register({ service: 'user', id: 'scoped', address: 'a:1' });
        assert.equal(reg.id, 'scoped');
        assert.ok(await read(`${ns}services/user/scoped`));
      }
      assert.equal(await read(`${ns}services/user/scoped`), undefined);
    } finally {
      await concord.close();
    }
  });

  test('a duplicate id in one registry is rejected before anything is written; reusable after deregister', async () => {
    const { concord, ns } = open();
    try {
      const registry = concord.registry();
      const reg = await registry.register({ service: 'user', id: 'i1', address: 'a:1' });
      await assert.rejects(registry.register({ service: 'user', id: 'i1', address: 'b:2' }), (err) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.equal(err.argument, 'instance.id');
        assert.match(err.message, /unique in this registry.*'user'.*"i1"/);
        return true;
      });
      // Concurrent duplicates: exactly one wins.
      const results = await Promise.allSettled([
        registry.register({ service: 'user', id: 'i2', address: 'a:1' }),
        registry.register({ service: 'user', id: 'i2', address: 'a:2' }),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const stored = JSON.parse((await read(`${ns}services/user/i1`))!.value) as { address: string };
      assert.equal(stored.address, 'a:1', 'the rejected duplicate wrote nothing');
      // Same id in another service is fine, and so is the id again once deregistered.
      await registry.register({ service: 'billing', id: 'i1', address: 'c:3' });
      await reg.deregister();
      const again = await registry.register({ service: 'user', id: 'i1', address: 'd:4' });
      assert.equal(again.address, 'd:4');
    } finally {
      await concord.close();
    }
  });

  test('bad input is rejected with InvalidArgumentError naming the argument, and nothing is written', async () => {
    const { concord, ns } = open();
    try {
      const registry = concord.registry();
      const cases: Array<[unknown, unknown, string]> = [
        [{ service: '', address: 'a:1' }, undefined, 'instance.service'],
        [{ service: 'a/b', address: 'a:1' }, undefined, 'instance.service'],
        [{ service: 'user', id: '', address: 'a:1' }, undefined, 'instance.id'],
        [{ service: 'user', id: 'x/y', address: 'a:1' }, undefined, 'instance.id'],
        [{ service: 'user', address: '' }, undefined, 'instance.address'],
        [{ service: 'user', address: 'a b' }, undefined, 'instance.address'],
        [{ service: 'user', address: 42 }, undefined, 'instance.address'],
        [{ service: 'user', address: 'a:1', meta: [1] }, undefined, 'instance.meta'],
        [{ service: 'user', address: 'a:1', meta: { n: 1n } }, undefined, 'instance.meta'],
        [
          { service: 'user', address: 'a:1', meta: { big: 'x'.repeat(2 * 1024 * 1024) } },
          undefined,
          'instance.meta',
        ],
        [{ service: 'user', address: 'a:1', port: 1 }, undefined, 'instance.port'],
        [{ service: 'user', address: 'a:1' }, { ttl: 1 }, 'options.ttl'],
        [{ service: 'user', address: 'a:1' }, { ttl: 2.5 }, 'options.ttl'],
        [{ service: 'user', address: 'a:1' }, { lease: 1 }, 'options.lease'],
        [undefined, undefined, 'instance'],
      ];
      for (const [instance, options, argument] of cases) {
        await assert.rejects(
          // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong types
          registry.register(instance as any, options as any),
          (err) => err instanceof InvalidArgumentError && err.argument === argument,
          `expected InvalidArgumentError for ${argument}`,
        );
      }
      const session = await concord.session({ ttl: 5 });
      await assert.rejects(
        registry.register({ service: 'user', address: 'a:1' }, { session, ttl: 5 }),
        (err) => err instanceof InvalidArgumentError && err.argument === 'options.ttl',
      );
      assert.throws(() => concord.registry({ prefix: 'no-slash' }), InvalidArgumentError);
      assert.throws(() => concord.registry({ prefix: 7 as unknown as string }), InvalidArgumentError);
      assert.equal(await countUnder(ns), 0, 'nothing was written');
    } finally {
      await concord.close();
    }
  });

  test('with a caller session: uses its lease; deregister deletes the key but leaves the session alive', async () => {
    const { concord, ns } = open();
    try {
      const session = await concord.session({ ttl: 5 });
      const reg = await concord
        .registry()
        .register({ service: 'user', id: 'i1', address: 'a:1' }, { session });
      assert.equal((await read(`${ns}services/user/i1`))!.lease, session.leaseId);
      await reg.deregister();
      assert.equal(await read(`${ns}services/user/i1`), undefined);
      assert.ok(session.isAlive);
      const lease = await cluster.client().leaseClient.leaseTimeToLive({ ID: session.leaseId });
      assert.ok(Number(lease.TTL) > 0, 'the caller session lease still exists');
      await session.close();
      await assert.rejects(
        concord.registry().register({ service: 'user', address: 'a:1' }, { session }),
        SessionLostError,
      );
    } finally {
      await concord.close();
    }
  });

  test('after its lease is revoked elsewhere, the registration re-registers under a new lease and state$ shows it', async () => {
    const { concord, ns } = open();
    try {
      const reg = await concord
        .registry()
        .register({ service: 'user', id: 'i1', address: 'a:1', meta: { k: 1 } }, { ttl: 3 });
      const states: RegistrationState[] = [];
      reg.state$.subscribe((s) => states.push(s));
      const oldLease = (await read(`${ns}services/user/i1`))!.lease;
      await cluster.client().leaseClient.leaseRevoke({ ID: oldLease });
      const back = await until(reg.state$, (s) => s.status === 'registered' && s.leaseId !== oldLease);
      assert.equal(back.status, 'registered');
      const stored = await read(`${ns}services/user/i1`);
      assert.ok(stored, 'the key is back');
      assert.notEqual(stored.lease, oldLease);
      assert.equal(stored.lease, (back as { leaseId: string }).leaseId);
      assert.deepEqual((JSON.parse(stored.value) as { meta: unknown }).meta, { k: 1 });
      const statuses = states.map((s) => s.status);
      assert.deepEqual(statuses, ['registered', 'reregistering', 'registered']);
      const lost = states[1] as { reason: Error };
      assert.ok(lost.reason instanceof SessionLostError);
      // The new lease is kept alive and the new registration still deregisters cleanly.
      await reg.deregister();
      assert.equal(await read(`${ns}services/user/i1`), undefined);
      const lease = await cluster.client().leaseClient.leaseTimeToLive({ ID: stored.lease });
      assert.equal(Number(lease.TTL), -1, 'the lease it created was revoked');
    } finally {
      await concord.close();
    }
  });

  test('an instance key deleted by another client while the session lives is written again under the same lease', async () => {
    const { concord, ns } = open();
    try {
      const reg = await concord
        .registry()
        .register({ service: 'user', id: 'i1', address: 'a:1', meta: { k: 1 } }, { ttl: 5 });
      const states: RegistrationState[] = [];
      reg.state$.subscribe((s) => states.push(s));
      const before = (await read(`${ns}services/user/i1`))!;
      await cluster.client().delete().key(`${ns}services/user/i1`).exec();
      await waitUntil(() => states.length === 3, { message: 'registered again' });
      assert.deepEqual(
        states.map((s) => s.status),
        ['registered', 'reregistering', 'registered'],
      );
      assert.ok((states[1] as { reason: Error }).reason instanceof InstanceRemovedError);
      const after = await read(`${ns}services/user/i1`);
      assert.equal(after?.lease, before.lease, 'same lease');
      assert.deepEqual((JSON.parse(after!.value) as { meta: unknown }).meta, { k: 1 });
      // Overwritten by another registration instead: left to it (last registration wins).
      await cluster.client().put(`${ns}services/user/i1`).value('b:2').exec();
      await sleep(300);
      assert.equal((await read(`${ns}services/user/i1`))?.value, 'b:2');
      assert.equal(states.length, 3);
      await reg.deregister();
      assert.equal(
        (await read(`${ns}services/user/i1`))?.value,
        'b:2',
        'deregister leaves a key it does not own',
      );
    } finally {
      await concord.close();
    }
  });

  test('a caller session closed under a live registration: it continues under a session of its own', async () => {
    const { concord, ns } = open();
    try {
      const session = await concord.session({ ttl: 4 });
      const reg = await concord
        .registry()
        .register({ service: 'user', id: 'i1', address: 'a:1' }, { session });
      await session.close();
      const back = await until(reg.state$, (s) => s.status === 'registered' && s.leaseId !== session.leaseId);
      const stored = await read(`${ns}services/user/i1`);
      assert.equal(stored?.lease, (back as { leaseId: string }).leaseId);
      const lease = await cluster.client().leaseClient.leaseTimeToLive({ ID: stored!.lease });
      assert.equal(Number(lease.grantedTTL), 4, 'same TTL as the caller session');
    } finally {
      await concord.close();
    }
  });

  test('concord.close() deregisters every registration', async () => {
    const { concord, ns } = open();
    const registry = concord.registry();
    await registry.register({ service: 'user', id: 'i1', address: 'a:1' });
    await registry.register({ service: 'user', id: 'i2', address: 'a:2' });
    assert.equal(await countUnder(ns), 2);
    await concord.close();
    await waitUntil(async () => (await countUnder(ns)) === 0, { message: 'keys deleted' });
    await assert.rejects(registry.register({ service: 'user', address: 'a:1' }), ClosedError);
  });
});
