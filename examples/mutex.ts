// Mutex demo: four clients (each its own Concord, as separate processes would be) increment one
// counter inside a fair lock, committing with lock.txn so that a write lands only while its lock
// is still held. Then a holder loses its lock (its lease is revoked behind its back): it is told
// at once through lost$, its late guarded write is refused, and the next waiter takes over with a
// larger fencing token.
//
//   npx tsx examples/mutex.ts                    starts its own etcd (needs the etcd binary)
//   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/mutex.ts
import { Concord } from 'concord-etcd';
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
  await bravo.concord.etcd.delete().prefix('demo/mutex/');
} finally {
  await Promise.all(clients.map(({ concord }) => concord.close()));
  await etcd.stop();
}
