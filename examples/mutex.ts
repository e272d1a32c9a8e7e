// Mutex demo: four clients (each its own Concord, as separate processes would be) increment one
// counter inside a fair lock, committing with lock.txn so that a write lands only while its lock
// is still held. Then a holder loses its lock (its lease is revoked behind its back): it is told
// at once through lost$, its late guarded write is refused, and the next waiter takes over with a
// larger fencing token. Last, a job runs with mutex.whileHeld() while its network goes silent:
// it winds down on lock.expiring$() while the lease still has budget left, before etcd can hand
// the lock to the next waiter.
//
//   npx tsx examples/mutex.ts                    starts its own etcd (needs the etcd binary)
//   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/mutex.ts
import { Concord, type LockHandle } from 'concord-etcd';
import { exhaustMap, interval, lastValueFrom, takeUntil } from 'rxjs';
import { startProxy } from '../test/support/proxy.js';
import { ensureEtcd } from './support/local-etcd.js';

const COUNTER = 'demo/mutex/counter';
const LOCK = 'demo-mutex-lock';
const started = Date.now();
const log = (who: string, line: string) =>
  console.log(`${String(Date.now() - started).padStart(5)} ms  ${who.padEnd(8)} ${line}`);

async function increment(concord: Concord, who: string): Promise<void> {
  await using lock = await concord.mutex(LOCK, { ttl: 5 }).lock();
  const current = Number((await concord.kv.get(COUNTER))?.value.toString() ?? '0');
  const committed = await lock.txn([{ type: 'put', key: COUNTER, value: String(current + 1) }]);
  log(
    who,
    `token ${lock.fencingToken}: counter ${current} -> ${current + 1} ${committed ? 'committed' : 'REFUSED'}`,
  );
}

/**
 * charlie runs a job under mutex.whileHeld(): one item every 200 ms, each committed with lock.txn.
 * Its connection goes through a proxy that is then blackholed (open but silent, like a dead
 * network path). No keepalive is answered any more, so the lock's lease budget runs down:
 * takeUntil(lock.expiring$(1500)) stops taking items while 1.5 s are left (the item in flight
 * still finishes), and whileHeld's own margin (500 ms) would abort the signal if it did not.
 * bravo, waiting, gets the lock only when etcd has expired charlie's lease: after charlie stopped.
 */
async function scopedJob(bravo: Concord, endpoint: string): Promise<void> {
  const proxy = await startProxy(endpoint);
  const charlie = new Concord({ endpoints: [proxy.endpoint], callTimeoutMs: 1_000 });
  try {
    log('demo', 'charlie runs a job with mutex.whileHeld(), its connection goes through a proxy');
    let stoppedAt = 0;
    let held = false;
    const commit = async (lock: LockHandle, item: number) => {
      const ok = await lock
        .txn([{ type: 'put', key: 'demo/mutex/job', value: String(item) }])
        .catch(() => undefined);
      const outcome = ok === undefined ? 'unknown (etcd unreachable)' : ok ? 'committed' : 'refused';
      log('charlie', `item ${item}: ${outcome} (token ${lock.fencingToken})`);
      return item;
    };
    const job = charlie.mutex(LOCK, { ttl: 3 }).whileHeld(
      (lock) => {
        held = true;
        lock.expiring$(1_500).subscribe(() => {
          stoppedAt = Date.now();
          log('charlie', `lease budget down to ${lock.timeLeft().toFixed(0)} ms: taking no more items`);
        });
        // exhaustMap: one item at a time, ticks that come while one is in flight are skipped.
        return interval(200).pipe(
          takeUntil(lock.expiring$(1_500)),
          exhaustMap((item) => commit(lock, item)),
        );
      },
      { marginMs: 500 },
    );
    const done = lastValueFrom(job).then(
      (last) => log('charlie', `job done after item ${last}: whileHeld has given the lock up`),
      (err: unknown) => log('charlie', `job ended: ${String(err)}`),
    );
    while (!held) await new Promise((resolve) => setTimeout(resolve, 50));
    const waiting = bravo.mutex(LOCK, { ttl: 5 }).lock();
    await new Promise((resolve) => setTimeout(resolve, 700));
    log('demo', "charlie's network goes silent (the proxy drops everything)");
    proxy.blackhole();
    const lock = await waiting;
    log(
      'bravo',
      `acquired with token ${lock.fencingToken}, ${Date.now() - stoppedAt} ms after charlie stopped`,
    );
    await done;
    await lock.release();
  } finally {
    proxy.restore();
    await charlie.close();
    await proxy.close();
  }
}

const etcd = await ensureEtcd((line) => log('demo', line));
const clients = ['alpha', 'bravo', 'charlie', 'delta'].map((name) => ({ name, concord: new Concord() }));
try {
  await clients[0]!.concord.etcd.delete().prefix('demo/mutex/');

  log('demo', '4 clients x 3 guarded increments, all contending for one lock');
  await Promise.all(
    clients.map(async ({ name, concord }) => {
      for (let i = 0; i < 3; i++) await increment(concord, name);
    }),
  );
  log('demo', `counter = ${await clients[0]!.concord.etcd.get(COUNTER).string()} (expected 12)`);

  log('demo', 'alpha takes the lock; then its lease is revoked behind its back');
  const alpha = clients[0]!;
  const bravo = clients[1]!;
  const session = await alpha.concord.session({ ttl: 5 });
  const held = await alpha.concord.mutex(LOCK, { session }).lock();
  held.lost$.subscribe((err) => log('alpha', `lost$: ${err.message}`));
  const waiting = bravo.concord.mutex(LOCK, { ttl: 5 }).lock();
  await bravo.concord.etcd.leaseClient.leaseRevoke({ ID: session.leaseId });
  const next = await waiting;
  log('bravo', `acquired with token ${next.fencingToken} (alpha had ${held.fencingToken})`);
  const late = await held.txn([{ type: 'put', key: COUNTER, value: '-1' }]);
  log('alpha', `late guarded write with the old token: ${late ? 'committed (BUG)' : 'refused'}`);
  await next.release();
  await session.close();
  log('demo', `final counter = ${await bravo.concord.etcd.get(COUNTER).string()}`);

  await scopedJob(bravo.concord, etcd.endpoints.split(',')[0]!);
  await bravo.concord.etcd.delete().prefix('demo/mutex/');
} finally {
  await Promise.all(clients.map(({ concord }) => concord.close()));
  await etcd.stop();
}
