// Fault injection for the service registry and discovery: a registrant process killed or frozen,
// etcd losing its data under a live registration, a consumer cut off across a compaction.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Subscription } from 'rxjs';
import { Concord } from '../../src/concord.js';
import type { RegistrationState, ServiceChange } from '../../src/service/types.js';
import { cleanupAfterEach } from '../support/cleanup.js';
import { startCluster } from '../support/etcd.js';
import { useCluster } from '../support/fixture.js';
import { startProxy } from '../support/proxy.js';
import { waitUntil } from '../support/wait.js';
import { spawnWorker, type Worker } from '../support/worker.js';

const REGISTRANT = fileURLToPath(new URL('./fixtures/registrant.ts', import.meta.url));
const TTL = 2;

const shared = useCluster();
let seq = 0;
const cleanup = cleanupAfterEach();

function consumerIn(ns: string, endpoints: string[] = shared.cluster.endpoints): Concord {
  const concord = new Concord({ endpoints, namespace: ns });
  cleanup.push(() => concord.close());
  return concord;
}

/** Follows changes$(service) and stamps each change with its arrival time. */
function follow(concord: Concord, service: string): Array<ServiceChange & { at: number }> {
  const changes: Array<ServiceChange & { at: number }> = [];
  const subscription: Subscription = concord
    .discovery()
    .changes$(service)
    .subscribe((c) => changes.push({ ...c, at: Date.now() }));
  cleanup.push(() => subscription.unsubscribe());
  return changes;
}

function registrant(ns: string, id: string): Worker {
  const worker = spawnWorker(REGISTRANT, {
    env: {
      ETCD_ENDPOINTS: shared.cluster.endpoints.join(','),
      NS: ns,
      SERVICE: 'user',
      ID: id,
      ADDRESS: `${id}.local:8080`,
      TTL: String(TTL),
    },
  });
  cleanup.push(() => worker.kill());
  return worker;
}

describe('registry faults', () => {
  test('a registrant killed with SIGKILL goes down within TTL + 1 s', async () => {
    const ns = `faults-registry-${++seq}/`;
    const changes = follow(consumerIn(ns), 'user');
    const worker = registrant(ns, 'doomed');
    await worker.waitFor((m) => m.type === 'state' && m.status === 'registered', 15_000);
    await waitUntil(() => changes.some((c) => c.type === 'up'), { message: 'up', timeoutMs: 10_000 });
    const killedAt = Date.now();
    await worker.kill('SIGKILL');
    await waitUntil(() => changes.some((c) => c.type === 'down'), { message: 'down', timeoutMs: 10_000 });
    const down = changes.find((c) => c.type === 'down')!;
    const elapsed = down.at - killedAt;
    console.log(`# SIGKILL -> down: ${elapsed} ms (TTL ${TTL} s)`);
    assert.equal(down.instance.id, 'doomed');
    assert.equal(down.instance.address, 'doomed.local:8080');
    assert.ok(
      elapsed <= TTL * 1000 + 1000,
      `down after ${elapsed} ms, expected within ${TTL * 1000 + 1000} ms`,
    );
  });

  test('a registrant paused past its TTL re-registers under a new lease when it resumes', async () => {
    const ns = `faults-registry-${++seq}/`;
    const changes = follow(consumerIn(ns), 'user');
    const worker = registrant(ns, 'sleeper');
    const first = await worker.waitFor((m) => m.type === 'state' && m.status === 'registered', 15_000);
    await waitUntil(() => changes.length === 1, { message: 'up', timeoutMs: 10_000 });
    const since = worker.all().length;
    worker.pause();
    await waitUntil(() => changes.some((c) => c.type === 'down'), {
      message: 'down while paused',
      timeoutMs: 10_000,
    });
    const resumedAt = Date.now();
    worker.resume();
    await worker.waitFor((m) => m.type === 'state' && m.status === 'reregistering', 10_000, { since });
    const back = await worker.waitFor((m) => m.type === 'state' && m.status === 'registered', 10_000, {
      since,
    });
    assert.notEqual(back.leaseId, first.leaseId, 'a new lease');
    await waitUntil(() => changes.length === 3, { message: 'up again', timeoutMs: 10_000 });
    console.log(`# resume -> up again: ${changes[2]!.at - resumedAt} ms`);
    assert.deepEqual(
      changes.map((c) => `${c.type} ${c.instance.id}`),
      ['up sleeper', 'down sleeper', 'up sleeper'],
    );
    const res = await shared.cluster.client().kv.range({ key: Buffer.from(`${ns}services/user/sleeper`) });
    assert.equal(String(res.kvs[0]?.lease), back.leaseId, 'the key is under the new lease');
  });

  test('etcd restarted without its data: the registration re-registers as soon as etcd answers', async () => {
    const ns = `faults-registry-${++seq}/`;
    const first = await startCluster();
    cleanup.push(() => first.stop());
    const proxy = await startProxy(first.endpoints[0]!);
    cleanup.push(() => proxy.close());
    const concord = consumerIn(ns, [proxy.endpoint]);
    const reg = await concord
      .registry()
      .register({ service: 'user', id: 'i1', address: 'h:1' }, { ttl: TTL });
    const states: Array<RegistrationState & { at: number }> = [];
    reg.state$.subscribe((s) => states.push({ ...s, at: Date.now() }));
    const oldLease = (states[0] as { leaseId: string }).leaseId;

    // The same address now leads to an etcd with an empty data dir.
    await first.stop();
    const fresh = await startCluster();
    cleanup.push(() => fresh.stop());
    const changes = follow(consumerIn(ns, fresh.endpoints), 'user');
    const reachableAt = Date.now();
    proxy.retarget(fresh.endpoints[0]!);
    proxy.cut();

    await waitUntil(() => states.some((s) => s.status === 'registered' && s.leaseId !== oldLease), {
      message: 're-registered in the fresh etcd',
      timeoutMs: 15_000,
    });
    const back = states.find((s) => s.status === 'registered' && s.leaseId !== oldLease)!;
    console.log(`# etcd reachable again -> re-registered: ${back.at - reachableAt} ms`);
    assert.deepEqual(
      states.map((s) => s.status),
      ['registered', 'reregistering', 'registered'],
    );
    await waitUntil(() => changes.some((c) => c.type === 'up' && c.instance.id === 'i1'), {
      message: 'discovered in the fresh etcd',
      timeoutMs: 10_000,
    });
    const res = await fresh.client().kv.range({ key: Buffer.from(`${ns}services/user/i1`) });
    assert.equal(String(res.kvs[0]?.lease), (back as { leaseId: string }).leaseId);
    // Generous bound: the gRPC channel's reconnect backoff plus a lease grant and a put.
    assert.ok(
      back.at - reachableAt < 10_000,
      `re-registered ${back.at - reachableAt} ms after etcd came back`,
    );
  });

  test('a consumer cut off while instances change and history is compacted sees the right downs and ups', async () => {
    const ns = `faults-registry-${++seq}/`;
    const registrant = consumerIn(ns);
    const registry = registrant.registry();
    const stay = await registry.register({ service: 'user', id: 'stay', address: 's:1' });
    const leave = await registry.register({ service: 'user', id: 'leave', address: 'l:1' });
    const proxy = await startProxy(shared.cluster.endpoints[0]!);
    cleanup.push(() => proxy.close());
    const consumer = consumerIn(ns, [proxy.endpoint]);
    const changes = follow(consumer, 'user');
    const lists: string[][] = [];
    const sub = consumer
      .discovery()
      .instances$('user')
      .subscribe({
        next: (list) => lists.push(list.map((i) => i.id)),
        error: (err: unknown) => lists.push([`error: ${String(err)}`]),
      });
    cleanup.push(() => sub.unsubscribe());
    await waitUntil(() => changes.length === 2, { message: 'initial ups' });

    // Cut the consumer off (new connections are refused), change things, compact the history away.
    proxy.retarget('127.0.0.1:1');
    proxy.cut();
    await leave.deregister();
    await registry.register({ service: 'user', id: 'new', address: 'n:1' });
    await stay.update({ address: 's:2' });
    await shared.cluster.compact();
    proxy.retarget(shared.cluster.endpoints[0]!);

    await waitUntil(() => changes.length === 5, { message: 'changes after resync', timeoutMs: 20_000 });
    assert.deepEqual(
      changes.map((c) => `${c.type} ${c.instance.id} ${c.instance.address}`),
      ['up leave l:1', 'up stay s:1', 'down leave l:1', 'up new n:1', 'update stay s:2'],
    );
    assert.deepEqual(lists.at(-1), ['new', 'stay']);
    assert.ok(!lists.some((l) => l[0]?.startsWith('error')), 'no error reached the stream');
  });
});
