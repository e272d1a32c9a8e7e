// Endpoint auto-sync: every member of a 3-member cluster is replaced, one by one, by a new member
// at a new address (member remove, member add, start), while a lock holder, a leader, a
// registration and a view of a Concord created with only the ORIGINAL endpoints keep working.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Subscription } from 'rxjs';
import { Concord } from '../../src/concord.js';
import type { Logger } from '../../src/core/log.js';
import type { Leadership } from '../../src/election/leadership.js';
import type { LockHandle } from '../../src/lock/handle.js';
import type { ServiceInstance } from '../../src/service/types.js';
import type { View, WatchBatch } from '../../src/watch/types.js';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';
import { sleep, waitUntil } from '../support/wait.js';

interface Line {
  message: string;
  fields?: Record<string, unknown>;
}

function recorder(lines: Line[]): Logger {
  const at = (message: string, fields?: Record<string, unknown>) => void lines.push({ message, fields });
  return { info: at, warn: at, error: at };
}

/** Addresses the Concord spreads its calls over now (etcd3's hosts). */
function hostsOf(concord: Concord): string[] {
  return (concord.etcd as unknown as { pool: { hosts: Array<{ host: string }> } }).pool.hosts
    .map((h) => h.host)
    .sort();
}

let cluster: EtcdCluster;
let proxy: TcpProxy;
const closing: Array<() => Promise<unknown>> = [];

before(async () => {
  cluster = await startCluster({ size: 3 });
  proxy = await startProxy(cluster.endpoints[0]!);
});

after(async () => {
  for (const close of closing.reverse()) await close().catch(() => undefined);
  await proxy?.close();
  await cluster?.stop();
});

function connect(options: ConstructorParameters<typeof Concord>[0]): Concord {
  const concord = new Concord(options);
  closing.push(() => concord.close());
  return concord;
}

test('every member replaced at a new address: lock, leader, registration and view carry on', async (t) => {
  const original = [...cluster.endpoints];
  const lines: Line[] = [];
  const main = connect({ endpoints: original, autoSyncIntervalMs: 300, logger: recorder(lines) });
  const observer = connect({ endpoints: original, autoSyncIntervalMs: 300 });
  // Controls: no auto-sync, and auto-sync through a proxy (the endpoint is no member's address).
  const frozen = connect({ endpoints: original, autoSyncIntervalMs: false, callTimeoutMs: 1_000 });
  const proxied = connect({ endpoints: [proxy.endpoint], autoSyncIntervalMs: 300 });
  await frozen.etcd.put('rep/control').value('1');

  // A lock holder and a leader on the main Concord; the observer would take either if it were free.
  const lock: LockHandle = await main.mutex('rep-lock', { ttl: 10 }).lock();
  const losses: string[] = [];
  lock.lost$.subscribe((e) => losses.push(`lock: ${e.message}`));
  const leadership = await new Promise<Leadership>((resolve, reject) => {
    const sub = main
      .election('rep-election', { ttl: 10 })
      .campaign('main')
      .subscribe({ next: resolve, error: reject });
    closing.push(async () => sub.unsubscribe());
  });
  leadership.lost$.subscribe((e) => losses.push(`leadership: ${e.message}`));
  const leaders: Array<string | undefined> = [];
  const subs: Subscription[] = [];
  subs.push(observer.election('rep-election').leader$.subscribe((l) => leaders.push(l?.value)));
  const registration = await main
    .registry()
    .register({ service: 'rep', address: '10.0.0.1:80', id: 'i1' }, { ttl: 10 });
  const states: string[] = [];
  subs.push(registration.state$.subscribe((st) => states.push(st.status)));
  const listings: ServiceInstance[][] = [];
  subs.push(
    observer
      .discovery()
      .instances$('rep')
      .subscribe((list) => listings.push(list)),
  );
  const views: View[] = [];
  subs.push(main.view({ prefix: 'rep/data/' }).subscribe((v) => views.push(v)));
  const batches: WatchBatch[] = [];
  subs.push(main.watch({ prefix: 'rep/data/' }).subscribe((b) => batches.push(b)));
  // The watch starts "now": it is established (its first, progress batch) before the first write.
  await waitUntil(() => batches.length > 0 && views.length > 0, { message: 'the watch and the view' });

  // Every key is written once (create-if-absent, so a retried write cannot write it twice),
  // through the main Concord's own etcd3 client: its host list is the one being synced.
  let written = 0;
  let stopWriting = false;
  let twoHolders = 0;
  const writer = (async () => {
    while (!stopWriting) {
      const key = `rep/data/${String(written).padStart(4, '0')}`;
      try {
        await main.etcd
          .if(key, 'Create', '==', 0)
          .then(main.etcd.put(key).value(String(written)))
          .commit();
        written++;
      } catch {
        await sleep(50); // the member it reached is going: try again
      }
      const other = await observer
        .mutex('rep-lock', { ttl: 10 })
        .tryLock()
        .catch(() => undefined);
      if (other) {
        twoHolders++;
        await other.release();
      }
      await sleep(20);
    }
  })();

  const timings: string[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const startedAt = Date.now();
      const replacement = await cluster.replaceMember(i);
      await waitUntil(
        () =>
          hostsOf(main).includes(replacement.endpoint) && hostsOf(observer).includes(replacement.endpoint),
        { timeoutMs: 10_000, message: `both Concords using ${replacement.endpoint}` },
      );
      timings.push(`${replacement.name} ${Date.now() - startedAt} ms`);
    }
    const before = written;
    await waitUntil(() => written >= before + 10, {
      timeoutMs: 10_000,
      message: 'writes after the last replacement',
    });
  } finally {
    stopWriting = true;
    await writer;
  }
  t.diagnostic(
    `replacements (remove, add, start, healthy, synced): ${timings.join(', ')}; ${written} keys written`,
  );

  assert.deepEqual(hostsOf(main), [...cluster.endpoints].sort(), 'the Concord uses the new members only');
  assert.ok(original.every((e) => !cluster.endpoints.includes(e)));
  // As Go's client does: the removed member leaves the list at once, the new one joins it once
  // started (a member added but not started yet has no name and no client URL).
  const changes = lines
    .filter((l) => l.message === 'etcd endpoints changed')
    .map((l) => l.fields?.to as string[]);
  assert.ok(changes.length >= 3 && changes.length <= 6, `${changes.length} logged changes`);
  assert.ok(changes.every((to) => to.length === 2 || to.length === 3));
  assert.deepEqual([...changes.at(-1)!].sort(), [...cluster.endpoints].sort());
  t.diagnostic(`endpoint counts after each logged change: ${changes.map((to) => to.length).join(', ')}`);

  // The view saw every write exactly once, in order; the watch delivered each key once.
  await waitUntil(() => views.at(-1)?.entries.size === written, {
    timeoutMs: 10_000,
    message: `${written} keys in the view`,
  });
  const puts = () => batches.flatMap((b) => (b.type === 'events' ? b.events.map((e) => e.kv.key) : []));
  await waitUntil(() => puts().length >= written, { timeoutMs: 10_000, message: `${written} watch events` });
  await sleep(200);
  assert.equal(puts().length, written, 'one event per write');
  assert.equal(new Set(puts()).size, written, 'no key twice');
  assert.ok(batches.every((b) => b.type !== 'resync'));

  // Lock, leadership and registration held throughout, and still work on the new members.
  assert.deepEqual(losses, []);
  assert.equal(twoHolders, 0, 'the observer never got the lock');
  assert.ok(lock.isHeld);
  assert.equal(await lock.txn([{ type: 'put', key: 'rep/fenced', value: 'x' }]), true);
  assert.deepEqual(
    leaders.filter((v, i) => v !== leaders[i - 1]),
    ['main'],
    'the observer saw one leader the whole time',
  );
  await leadership.proclaim('main-2');
  await waitUntil(() => leaders.at(-1) === 'main-2', { message: 'the proclaim seen by the observer' });
  assert.ok(listings.length > 0);
  assert.ok(
    listings.slice(listings.findIndex((l) => l.length > 0)).every((l) => l.some((s) => s.id === 'i1')),
    'the registration stayed visible',
  );
  assert.deepEqual([...new Set(states)], ['registered'], 'never re-registered');
  await registration.update({ meta: { zone: 'b' } });
  await waitUntil(() => listings.at(-1)?.[0]?.meta?.zone === 'b', {
    message: 'the update seen by the observer',
  });

  // Without auto-sync the original endpoints lead nowhere; through a proxy nothing was synced.
  await assert.rejects(frozen.etcd.get('rep/control').string());
  assert.deepEqual(hostsOf(proxied), [proxy.endpoint]);
  assert.ok(lines.every((l) => !String(l.fields?.to ?? '').includes(proxy.endpoint)));

  for (const sub of subs) sub.unsubscribe();
  await lock.release();
  await leadership.resign();
  await registration.deregister();
});
