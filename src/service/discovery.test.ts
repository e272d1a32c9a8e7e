import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { filter, firstValueFrom, type Observable, type Subscription, timeout } from 'rxjs';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { type EtcdCluster, startCluster } from '../../test/support/etcd.js';
import { sleep, waitUntil } from '../../test/support/wait.js';
import { Concord } from '../concord.js';
import { InvalidArgumentError } from '../errors.js';
import type { Picker } from './picker.js';
import type { DiscoveryError, ServiceChange, ServiceInstance } from './types.js';

let cluster: EtcdCluster;
let seq = 0;
const cleanup = cleanupAfterEach();

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
});

/** Two Concords in a fresh namespace: one that registers, one that discovers (as in two processes). */
function setup(): { registrant: Concord; consumer: Concord; ns: string } {
  const ns = `discovery-test-${++seq}/`;
  const registrant = new Concord({ endpoints: cluster.endpoints, namespace: ns });
  const consumer = new Concord({ endpoints: cluster.endpoints, namespace: ns });
  cleanup.push(
    () => registrant.close(),
    () => consumer.close(),
  );
  return { registrant, consumer, ns };
}

/** Subscribes and records every value; unsubscribed after the test. */
function record<T>(source: Observable<T>): { values: T[]; subscription: Subscription } {
  const values: T[] = [];
  const subscription = source.subscribe((v) => values.push(v));
  cleanup.push(() => subscription.unsubscribe());
  return { values, subscription };
}

function until<T>(source: Observable<T>, pred: (v: T) => boolean, ms = 10_000): Promise<T> {
  return firstValueFrom(source.pipe(filter(pred), timeout(ms)));
}

const ids = (list: readonly ServiceInstance[]) => list.map((i) => i.id);
const brief = (c: ServiceChange) => `${c.type} ${c.instance.service}/${c.instance.id} ${c.instance.address}`;

async function put(key: string, value: string | Buffer): Promise<void> {
  await cluster.client().put(key).value(value);
}

describe('discovery', () => {
  test('instances$ emits the full list on subscribe and after every change', async () => {
    const { registrant, consumer } = setup();
    const registry = registrant.registry();
    await registry.register({ service: 'user', id: 'i2', address: 'h2:2' });
    const i1 = await registry.register({ service: 'user', id: 'i1', address: 'h1:1', meta: { zone: 'a' } });
    const discovery = consumer.discovery();
    const { values } = record(discovery.instances$('user'));
    await waitUntil(() => values.length === 1, { message: 'initial list' });
    assert.deepEqual(ids(values[0]!), ['i1', 'i2'], 'full list, sorted by id');
    const first = values[0]![0]!;
    assert.equal(first.service, 'user');
    assert.equal(first.address, 'h1:1');
    assert.deepEqual(first.meta, { zone: 'a' });
    assert.equal(first.key, 'services/user/i1');
    assert.equal(typeof first.revision, 'bigint');
    assert.ok(first.registeredAt && !Number.isNaN(Date.parse(first.registeredAt)));

    const i3 = await registry.register({ service: 'user', id: 'i3', address: 'h3:3' });
    await waitUntil(() => values.length === 2, { message: 'list after up' });
    assert.deepEqual(ids(values[1]!), ['i1', 'i2', 'i3']);
    await i1.update({ address: 'h1:10' });
    await waitUntil(() => values.length === 3, { message: 'list after update' });
    assert.equal(values[2]![0]!.address, 'h1:10');
    assert.ok(values[2]![0]!.revision > first.revision);
    await i3.deregister();
    await waitUntil(() => values.length === 4, { message: 'list after down' });
    assert.deepEqual(ids(values[3]!), ['i1', 'i2']);

    // Another service's changes do not touch this list; a late subscriber gets the list at once.
    await registry.register({ service: 'billing', id: 'b1', address: 'b:1' });
    const late = await firstValueFrom(discovery.instances$('user').pipe(timeout(1000)));
    assert.deepEqual(ids(late), ['i1', 'i2']);
    assert.equal(values.length, 4);
  });

  test('changes$(service): up for what is there, then up / update / down (down carries the removed instance)', async () => {
    const { registrant, consumer } = setup();
    const registry = registrant.registry();
    const i1 = await registry.register({ service: 'user', id: 'i1', address: 'h1:1' });
    const { values } = record(consumer.discovery().changes$('user'));
    await waitUntil(() => values.length === 1, { message: 'initial up' });
    const i2 = await registry.register({ service: 'user', id: 'i2', address: 'h2:2' });
    await waitUntil(() => values.length === 2);
    await i2.update({ address: 'h2:20', meta: { v: 2 } });
    await waitUntil(() => values.length === 3);
    await registry.register({ service: 'other', id: 'o1', address: 'o:1' });
    await i1.deregister();
    await waitUntil(() => values.length === 4);
    assert.deepEqual(values.map(brief), [
      'up user/i1 h1:1',
      'up user/i2 h2:2',
      'update user/i2 h2:20',
      'down user/i1 h1:1',
    ]);
    assert.deepEqual(values[2]!.instance.meta, { v: 2 });
    assert.equal(values[3]!.instance.key, 'services/user/i1');
  });

  test('changes$() with no service follows every service under the prefix', async () => {
    const { registrant, consumer } = setup();
    const registry = registrant.registry();
    await registry.register({ service: 'user', id: 'u1', address: 'u:1' });
    const { values } = record(consumer.discovery().changes$());
    await waitUntil(() => values.length === 1);
    const b1 = await registry.register({ service: 'billing', id: 'b1', address: 'b:1' });
    await registry.register({ service: 'search', id: 's1', address: 's:1' });
    await b1.deregister();
    // Outside the prefix: not followed.
    await registrant
      .registry({ prefix: 'elsewhere/' })
      .register({ service: 'user', id: 'x', address: 'x:1' });
    await waitUntil(() => values.length === 4);
    assert.deepEqual(values.map(brief), [
      'up user/u1 u:1',
      'up billing/b1 b:1',
      'up search/s1 s:1',
      'down billing/b1 b:1',
    ]);
  });

  test('values written by other clients: plain address, Go endpoints JSON, JSON string; invalid ones go to errors$', async () => {
    const { consumer, ns } = setup();
    const discovery = consumer.discovery();
    const errors: DiscoveryError[] = [];
    discovery.errors$.subscribe((e) => errors.push(e));
    // As `etcdctl put services/user/i1 10.0.0.5:9000` would write it.
    await put(`${ns}services/user/i1`, '10.0.0.5:9000');
    await put(
      `${ns}services/user/go`,
      JSON.stringify({ Op: 0, Addr: '10.0.0.6:50051', Metadata: { zone: 'b' } }),
    );
    await put(`${ns}services/user/quoted`, JSON.stringify('[::1]:7000'));
    await put(`${ns}services/user/bad-json`, '{"address": ');
    await put(`${ns}services/user/bad-shape`, JSON.stringify({ addr: '1.2.3.4:1' }));
    await put(`${ns}services/user/spaces`, 'not an address');
    await put(`${ns}services/user/binary`, Buffer.from([0xff, 0xfe, 0x00]));
    await put(`${ns}services/user/nested/deeper`, 'h:1');
    const changes = record(discovery.changes$('user')).values;
    const lists = record(discovery.instances$('user')).values;
    await waitUntil(() => lists.length === 1 && errors.length === 5, { message: 'initial load' });
    assert.deepEqual(
      lists[0]!.map((i) => [i.id, i.address, i.meta]),
      [
        ['go', '10.0.0.6:50051', { zone: 'b' }],
        ['i1', '10.0.0.5:9000', undefined],
        ['quoted', '[::1]:7000', undefined],
      ],
    );
    assert.deepEqual(errors.map((e) => e.key).sort(), [
      'services/user/bad-json',
      'services/user/bad-shape',
      'services/user/binary',
      'services/user/nested/deeper',
      'services/user/spaces',
    ]);
    for (const e of errors) {
      assert.equal(typeof e.revision, 'bigint');
      assert.ok(Buffer.isBuffer(e.value));
      assert.ok(e.message.length > 0);
    }
    assert.equal(changes.length, 3, 'one up per valid instance, nothing for the invalid ones');

    // A valid instance overwritten with garbage goes down (and is reported); fixing it brings it back up.
    await put(`${ns}services/user/i1`, '{ broken');
    await waitUntil(() => changes.length === 4 && errors.length === 6);
    assert.equal(brief(changes[3]!), 'down user/i1 10.0.0.5:9000');
    assert.equal(errors[5]!.key, 'services/user/i1');
    await put(`${ns}services/user/bad-shape`, JSON.stringify({ address: '1.2.3.4:1' }));
    await waitUntil(() => changes.length === 5);
    assert.equal(brief(changes[4]!), 'up user/bad-shape 1.2.3.4:1');
    assert.deepEqual(ids(lists.at(-1)!), ['bad-shape', 'go', 'quoted']);

    // Keys not shaped <prefix><service>/<id> are reported by changes$() too, once per write.
    const all = record(discovery.changes$()).values;
    await put(`${ns}services/orphan`, 'h:1');
    await waitUntil(() => errors.some((e) => e.key === 'services/orphan'));
    assert.equal(
      errors.filter((e) => e.key === 'services/user/bad-json').length,
      1,
      'reported once per write',
    );
    assert.ok(all.every((c) => c.instance.service === 'user'));
  });

  test('20 subscribers share one upstream etcd watch per prefix', async () => {
    const { registrant, consumer } = setup();
    const member = cluster.members[0]!;
    // etcd drops the watchers of earlier tests' closed streams asynchronously: wait until the
    // count holds still before taking it as the baseline.
    let baseline = -1;
    await waitUntil(
      async () => {
        const before = await member.metric('etcd_debugging_mvcc_watcher_total');
        await sleep(150);
        baseline = await member.metric('etcd_debugging_mvcc_watcher_total');
        return before === baseline;
      },
      { timeoutMs: 10_000, message: 'a steady watcher count before the test' },
    );
    const seen: number[] = [];
    const subscriptions: Subscription[] = [];
    const pickers: Picker[] = [];
    for (let d = 0; d < 5; d++) {
      const discovery = consumer.discovery();
      for (let k = 0; k < 2; k++) {
        const slot = seen.push(0) - 1;
        subscriptions.push(discovery.instances$('user').subscribe((list) => (seen[slot] = list.length)));
      }
      const slot = seen.push(0) - 1;
      subscriptions.push(discovery.changes$('user').subscribe(() => seen[slot]!++));
      pickers.push(discovery.picker('user'));
    }
    assert.equal(subscriptions.length + pickers.length, 20);
    await Promise.all(pickers.map((p) => p.ready()));
    // The hub creates the watch right after the initial read: wait for it to be registered.
    await waitUntil(() => consumer.watchStats().upstreamWatches === 1, { message: 'one upstream watch' });
    assert.equal(consumer.watchStats().streams, 1);
    assert.equal(consumer.watchStats().subscribers, 5, 'one view subscriber per Discovery');
    await waitUntil(async () => (await member.metric('etcd_debugging_mvcc_watcher_total')) === baseline + 1, {
      message: 'etcd to report exactly one more watcher',
    });
    await registrant.registry().register({ service: 'user', id: 'i1', address: 'h:1' });
    await waitUntil(() => seen.every((n) => n === 1) && pickers.every((p) => p.next()?.id === 'i1'), {
      message: 'every subscriber to see the instance',
    });
    // The registrant follows its own instance key: one watcher of its own, on its own stream.
    await waitUntil(() => registrant.watchStats().upstreamWatches === 1, {
      message: 'the registrant key watch',
    });
    await waitUntil(async () => (await member.metric('etcd_debugging_mvcc_watcher_total')) === baseline + 2, {
      message: 'etcd to report the consumers’ one watcher and the registrant’s',
    });
    await sleep(200);
    assert.equal(await member.metric('etcd_debugging_mvcc_watcher_total'), baseline + 2, 'and no more');
    for (const s of subscriptions) s.unsubscribe();
    for (const p of pickers) p.close();
    assert.equal(consumer.watchStats().upstreamWatches, 0);
    await waitUntil(async () => (await member.metric('etcd_debugging_mvcc_watcher_total')) === baseline + 1, {
      message: 'the watch to be cancelled on the server',
    });
  });

  test('picker round-robin: even cycles, continues after the last pick when an instance goes down or comes up', async () => {
    const { registrant, consumer } = setup();
    const registry = registrant.registry();
    const regs = new Map();
    for (const id of ['a', 'b', 'c'])
      regs.set(id, await registry.register({ service: 'user', id, address: `${id}:1` }));
    const discovery = consumer.discovery();
    using picker = discovery.picker('user', { strategy: 'round-robin' });
    await picker.ready();
    await waitUntil(() => picker.instances.length === 3);
    const picks = Array.from({ length: 30 }, () => picker.next()!.id);
    assert.deepEqual(picks.slice(0, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
    for (const id of ['a', 'b', 'c']) assert.equal(picks.filter((p) => p === id).length, 10);

    // The picker sees a change no later than any other consumer of the same discovery.
    const changes = discovery.changes$('user');
    const seenAtDown: string[][] = [];
    const sub = changes.subscribe((c) => {
      if (c.type === 'down') seenAtDown.push(picker.instances.map((i) => i.id));
    });
    assert.equal(picker.next()!.id, 'a');
    await regs.get('b').deregister();
    await waitUntil(() => seenAtDown.length === 1, { message: 'down seen' });
    assert.deepEqual(seenAtDown[0], ['a', 'c'], 'picker already without b when the down is delivered');
    sub.unsubscribe();
    assert.deepEqual(
      Array.from({ length: 4 }, () => picker.next()!.id),
      ['c', 'a', 'c', 'a'],
    );
    await registry.register({ service: 'user', id: 'b2', address: 'b2:1' });
    await waitUntil(() => picker.instances.length === 3, { message: 'b2 up' });
    // Last pick was 'a': continue with the next key in order, which is the new 'b2'.
    assert.deepEqual(
      Array.from({ length: 6 }, () => picker.next()!.id),
      ['b2', 'c', 'a', 'b2', 'c', 'a'],
    );
  });

  test('picker random is uniform; next() is undefined when no instance is up or after close', async () => {
    const { registrant, consumer } = setup();
    const registry = registrant.registry();
    const discovery = consumer.discovery();
    const picker = discovery.picker('user', { strategy: 'random' });
    await picker.ready();
    assert.equal(picker.next(), undefined, 'none up');
    const regs = [];
    for (const id of ['a', 'b', 'c'])
      regs.push(await registry.register({ service: 'user', id, address: `${id}:1` }));
    await waitUntil(() => picker.instances.length === 3);
    const counts = new Map<string, number>();
    const n = 6000;
    for (let i = 0; i < n; i++) {
      const id = picker.next()!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // Expected 2000 each; the standard deviation is ~37, so ±300 fails only if picks are skewed.
    for (const id of ['a', 'b', 'c']) {
      const c = counts.get(id) ?? 0;
      assert.ok(c > 1700 && c < 2300, `${id} picked ${c} times of ${n}`);
    }
    for (const r of regs) await r.deregister();
    await waitUntil(() => picker.instances.length === 0);
    assert.equal(picker.next(), undefined, 'none up again');
    await registry.register({ service: 'user', id: 'd', address: 'd:1' });
    await waitUntil(() => picker.next()?.id === 'd');
    picker.close();
    assert.equal(picker.next(), undefined, 'closed');
  });

  test('bad arguments throw InvalidArgumentError naming the argument', async () => {
    const { consumer } = setup();
    const discovery = consumer.discovery();
    const expect = (fn: () => unknown, argument: string) =>
      assert.throws(fn, (err) => err instanceof InvalidArgumentError && err.argument === argument);
    expect(() => discovery.instances$(''), 'service');
    expect(() => discovery.instances$('a/b'), 'service');
    expect(() => discovery.instances$(7 as unknown as string), 'service');
    expect(() => discovery.changes$('a/b'), 'service');
    expect(() => discovery.picker('a/b'), 'service');
    expect(() => discovery.picker('user', { strategy: 'least-loaded' as 'random' }), 'options.strategy');
    expect(() => discovery.picker('user', { weight: 1 } as object), 'options.weight');
    expect(() => consumer.discovery({ prefix: 'x' }), 'options.prefix');
    expect(() => consumer.discovery({ other: 1 } as object), 'options.other');
    assert.equal(consumer.discovery({ prefix: '' }).prefix, '');
    assert.equal(consumer.discovery().prefix, 'services/');
  });

  test('concord.close() completes instances$, changes$ and errors$', async () => {
    const { consumer } = setup();
    const discovery = consumer.discovery();
    const done = { instances: false, changes: false, errors: false };
    discovery.instances$('user').subscribe({ complete: () => (done.instances = true) });
    discovery.changes$().subscribe({ complete: () => (done.changes = true) });
    discovery.errors$.subscribe({ complete: () => (done.errors = true) });
    await until(discovery.instances$('user'), () => true);
    await consumer.close();
    assert.deepEqual(done, { instances: true, changes: true, errors: true });
  });
});
