// One client process of the chaos suite. It runs every workload on ONE Concord, through its
// own proxies (so the test can cut or blackhole it), and reports every guarded write's outcome:
//   - counter: lock the mutex, read the counter, lock.txn(counter = n, log/n = op, ops/op = n);
//   - semaphore and rwlock: while holding a permit / a read or write side, write keys with lock.txn;
//   - election: campaign; while leader, write fenced keys with leadership.txn;
//   - scoped election: whileLeader (requeue) runs the leader work; it writes fenced keys until its
//     signal aborts (a loss before the lease can expire, or the drain at stop);
//   - registry: register itself (it re-registers by itself after a session loss) and update its meta;
//   - discovery and config consumers: follow instances$ and value$, report them on request;
//   - config writer (worker w0 only): set, change and delete config keys.
// Env: CHAOS_WORKER (id), CHAOS_ENDPOINTS (comma separated), CHAOS_TTL (s), CHAOS_SEED, CHAOS_WRITER ('1').

import { setTimeout as delay } from 'node:timers/promises';
import { Concord, type Leadership, type LockHandle, type ServiceInstance } from 'concord-etcd';
import type { Subscription } from 'rxjs';
import { onMessage, send as sendRaw } from '../../support/worker-child.js';
import {
  CONFIG_PREFIX,
  COUNTER_KEY,
  COUNTER_LOCK,
  COUNTER_LOG,
  COUNTER_OPS,
  ELECTION,
  FENCED,
  GUARDED,
  type GuardedLock,
  pad,
  RWLOCK,
  SCOPED,
  SCOPED_ELECTION,
  SEMAPHORE,
  SEMAPHORE_PERMITS,
  SERVICE,
  type WorkerCommand,
  type WorkerEvent,
} from './protocol.js';
import { Random } from './random.js';

const worker = required('CHAOS_WORKER');
const ttl = Number(required('CHAOS_TTL'));
const random = new Random(Number(required('CHAOS_SEED')));
const isWriter = process.env.CHAOS_WRITER === '1';

const concord = new Concord({
  endpoints: required('CHAOS_ENDPOINTS').split(','),
  // Short enough that calls into a blackhole fail (and are retried) well within a TTL.
  callTimeoutMs: 2_000,
  watch: { stallTimeoutMs: 4_000 },
  // Diagnostics go to stderr: the test shows it when something fails.
  logger: {
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
  },
});
const stop = new AbortController();
const stats: Record<string, number> = {};
let instances: ServiceInstance[] | null = null;
let config: unknown = null;

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

function send(event: WorkerEvent): void {
  sendRaw(event as unknown as Record<string, unknown>);
}

function log(level: string, message: string, fields?: Record<string, unknown>): void {
  const text = fields
    ? ` ${JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`
    : '';
  process.stderr.write(`${new Date().toISOString()} ${worker} ${level} ${message}${text}\n`);
}

function count(what: string): void {
  stats[what] = (stats[what] ?? 0) + 1;
}

function message(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    stop.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function counterLoop(): Promise<void> {
  const mutex = concord.mutex(COUNTER_LOCK, { ttl });
  let seq = 0;
  while (!stop.signal.aborted) {
    let handle: Awaited<ReturnType<typeof mutex.lock>>;
    try {
      handle = await mutex.lock({ signal: stop.signal });
    } catch (err) {
      if (stop.signal.aborted) break;
      count(`lock failed: ${err instanceof Error ? err.name : 'error'}`);
      await sleep(random.int(50, 300));
      continue;
    }
    count('locks');
    try {
      const rounds = random.int(1, 3);
      for (let round = 0; round < rounds && handle.isHeld && !stop.signal.aborted; round++) {
        let current: number;
        try {
          const text = await concord.etcd.get(COUNTER_KEY).string();
          current = text === null ? 0 : Number(text);
        } catch (err) {
          count('counter read failed');
          log('warn', 'reading the counter failed', { error: message(err) });
          break;
        }
        const n = current + 1;
        const op = `${worker}-${++seq}`;
        try {
          const committed = await handle.txn([
            { type: 'put', key: COUNTER_KEY, value: String(n) },
            { type: 'put', key: `${COUNTER_LOG}${pad(n)}`, value: op },
            { type: 'put', key: `${COUNTER_OPS}${op}`, value: String(n) },
          ]);
          send({ type: 'counter', worker, op, n, result: committed ? 'committed' : 'rejected' });
          if (!committed) break;
        } catch (err) {
          send({ type: 'counter', worker, op, n, result: 'unknown', error: message(err) });
          break;
        }
      }
    } finally {
      await handle.release().catch((err: unknown) => log('warn', 'release failed', { error: message(err) }));
    }
    await sleep(random.int(10, 120));
  }
}

/** A few writes guarded by `handle`, each reported; stops at the first rejected one. */
async function guardedWrites(handle: LockHandle, lock: GuardedLock): Promise<void> {
  const writes = random.int(1, 4);
  for (let seq = 1; seq <= writes && handle.isHeld && !stop.signal.aborted; seq++) {
    const key = `${GUARDED}${lock}/${pad(handle.fencingToken)}/${pad(seq)}`;
    try {
      const committed = await handle.txn([{ type: 'put', key, value: worker }]);
      send({ type: 'guarded', worker, lock, key, result: committed ? 'committed' : 'rejected' });
      if (!committed) return;
    } catch (err) {
      send({ type: 'guarded', worker, lock, key, result: 'unknown', error: message(err) });
      return;
    }
    await sleep(random.int(10, 80));
  }
}

/** Acquires with `acquire` over and over, writing under the handle each time, until stopped. */
async function holdLoop(
  name: string,
  acquire: (signal: AbortSignal) => Promise<{ handle: LockHandle; lock: GuardedLock }>,
): Promise<void> {
  while (!stop.signal.aborted) {
    let held: { handle: LockHandle; lock: GuardedLock };
    try {
      held = await acquire(stop.signal);
    } catch (err) {
      if (stop.signal.aborted) break;
      count(`${name} failed: ${err instanceof Error ? err.name : 'error'}`);
      await sleep(random.int(50, 300));
      continue;
    }
    count(name);
    try {
      await guardedWrites(held.handle, held.lock);
    } finally {
      await held.handle
        .release()
        .catch((err: unknown) => log('warn', `${name} release failed`, { error: message(err) }));
    }
    await sleep(random.int(100, 400));
  }
}

function semaphoreLoop(): Promise<void> {
  const semaphore = concord.semaphore(SEMAPHORE, { permits: SEMAPHORE_PERMITS, ttl });
  return holdLoop('permits', async (signal) => ({
    handle: await semaphore.acquire({ signal }),
    lock: 'semaphore',
  }));
}

function rwlockLoop(): Promise<void> {
  const rwlock = concord.rwlock(RWLOCK, { ttl });
  return holdLoop('rwlock holds', async (signal) => {
    // Mostly readers, so that readers really share and writers really wait for them.
    const lock: GuardedLock = random.int(0, 2) === 0 ? 'write' : 'read';
    return { handle: await (lock === 'write' ? rwlock.write({ signal }) : rwlock.read({ signal })), lock };
  });
}

/** Campaigns once; resolves with the leadership (keeping the subscription) or undefined. */
function campaign(): Promise<{ leadership: Leadership | undefined; subscription: Subscription }> {
  return new Promise((resolve) => {
    let subscription: Subscription | undefined;
    const settle = (leadership: Leadership | undefined) => {
      stop.signal.removeEventListener('abort', onStop);
      // The subscription is assigned by the time anything can settle asynchronously.
      queueMicrotask(() => resolve({ leadership, subscription: subscription! }));
    };
    const onStop = () => settle(undefined);
    stop.signal.addEventListener('abort', onStop, { once: true });
    subscription = concord
      .election(ELECTION, { ttl })
      .campaign(worker)
      .subscribe({
        next: (leadership) => settle(leadership),
        error: (err: unknown) => {
          count(`campaign failed: ${err instanceof Error ? err.name : 'error'}`);
          settle(undefined);
        },
        complete: () => settle(undefined),
      });
  });
}

async function electionLoop(): Promise<void> {
  while (!stop.signal.aborted) {
    const { leadership, subscription } = await campaign();
    if (leadership) {
      const term = leadership.term.toString();
      send({ type: 'elected', worker, term });
      count('terms');
      let seq = 0;
      while (leadership.isLeader && !stop.signal.aborted) {
        seq++;
        try {
          const committed = await leadership.txn([
            { type: 'put', key: `${FENCED}${pad(leadership.term)}/${pad(seq)}`, value: worker },
          ]);
          send({ type: 'fenced', worker, term, seq, result: committed ? 'committed' : 'rejected' });
          if (!committed) break;
        } catch (err) {
          send({ type: 'fenced', worker, term, seq, result: 'unknown', error: message(err) });
        }
        await sleep(random.int(60, 200));
      }
      const reason = stop.signal.aborted
        ? 'stopping'
        : leadership.signal.reason instanceof Error
          ? message(leadership.signal.reason)
          : 'txn rejected';
      send({ type: 'deposed', worker, term, reason });
    }
    subscription.unsubscribe();
    await sleep(random.int(50, 400));
  }
}

/** Leader work scoped with whileLeader: fenced writes until the signal aborts. */
async function scopedWork(leadership: Leadership, signal: AbortSignal): Promise<void> {
  const term = leadership.term.toString();
  send({ type: 'scoped-elected', worker, term });
  count('scoped terms');
  for (let seq = 1; !signal.aborted && leadership.isLeader; seq++) {
    try {
      const committed = await leadership.txn([
        { type: 'put', key: `${SCOPED}${pad(leadership.term)}/${pad(seq)}`, value: worker },
      ]);
      send({ type: 'scoped', worker, term, seq, result: committed ? 'committed' : 'rejected' });
    } catch (err) {
      send({ type: 'scoped', worker, term, seq, result: 'unknown', error: message(err) });
    }
    await delay(random.int(60, 200), undefined, { signal }).catch(() => undefined);
  }
  send({ type: 'scoped-stopped', worker, term, reason: message(signal.reason ?? 'not leader') });
}

/** Stays a whileLeader candidate (requeue) until stopped; resolves once the last work has returned. */
function scopedLeaderLoop(): Promise<void> {
  return new Promise((resolve) => {
    let working: Promise<void> = Promise.resolve();
    const subscription = concord
      .election(SCOPED_ELECTION, { ttl })
      .whileLeader(
        worker,
        (leadership, signal) => {
          working = scopedWork(leadership, signal);
          return working;
        },
        { requeue: true },
      )
      .subscribe({
        error: (err: unknown) =>
          send({ type: 'stream-error', worker, stream: 'election.whileLeader', error: message(err) }),
      });
    stop.signal.addEventListener(
      'abort',
      () => {
        subscription.unsubscribe();
        void working.then(resolve);
      },
      { once: true },
    );
  });
}

async function registryLoop(): Promise<void> {
  const registry = concord.registry();
  let registration: Awaited<ReturnType<typeof registry.register>> | undefined;
  while (!registration && !stop.signal.aborted) {
    try {
      registration = await registry.register(
        { service: SERVICE, id: worker, address: `10.0.0.${worker.slice(1)}:80`, meta: { tick: 0 } },
        { ttl },
      );
    } catch (err) {
      count('register failed');
      log('warn', 'register failed', { error: message(err) });
      await sleep(random.int(200, 800));
    }
  }
  let tick = 0;
  while (registration && !stop.signal.aborted) {
    await sleep(random.int(700, 2_000));
    if (stop.signal.aborted) break;
    try {
      await registration.update({ meta: { tick: ++tick } });
      count('registration updates');
    } catch (err) {
      count('registration update failed');
      log('warn', 'registration update failed', { error: message(err) });
    }
  }
}

async function configWriterLoop(): Promise<void> {
  const writer = concord.config(CONFIG_PREFIX);
  let seq = 0;
  while (!stop.signal.aborted) {
    await sleep(random.int(100, 400));
    if (stop.signal.aborted) break;
    const flag = `flags/f${random.int(0, 4)}`;
    const choice = random.int(0, 9);
    try {
      if (choice < 5) await writer.set('seq', ++seq);
      else if (choice < 8) await writer.set(flag, random.int(0, 1) === 1);
      else if (choice < 9) await writer.set(flag, undefined);
      else await writer.set('writer', { worker, seq, note: `write ${seq}` });
      count('config writes');
    } catch (err) {
      count('config write failed');
      log('warn', 'config write failed', { error: message(err) });
    }
  }
  await writer.close();
}

function follow(): Subscription[] {
  const onError = (stream: string) => (err: unknown) =>
    send({ type: 'stream-error', worker, stream, error: message(err) });
  const live = concord.config(CONFIG_PREFIX);
  return [
    concord
      .discovery()
      .instances$(SERVICE)
      .subscribe({
        next: (list) => {
          instances = list;
        },
        error: onError('discovery.instances$'),
      }),
    live.value$.subscribe({
      next: (value) => {
        config = value;
      },
      error: onError('config.value$'),
    }),
    // The writer only writes valid config, so any rejected revision is a fault of the consumer.
    live.errors$.subscribe((err) => onError('config.errors$')(err)),
    concord.election(ELECTION).leader$.subscribe({ error: onError('election.leader$') }),
  ];
}

process.on('unhandledRejection', (err) => {
  send({ type: 'stream-error', worker, stream: 'unhandledRejection', error: message(err) });
});

const followers = follow();
const workloads = Promise.all([
  counterLoop(),
  semaphoreLoop(),
  rwlockLoop(),
  electionLoop(),
  scopedLeaderLoop(),
  registryLoop(),
  ...(isWriter ? [configWriterLoop()] : []),
]);

onMessage((raw) => {
  const command = raw as WorkerCommand;
  switch (command.cmd) {
    case 'report':
      send({
        type: 'report',
        worker,
        instances:
          instances?.map((i) => ({
            id: i.id,
            address: i.address,
            key: i.key,
            revision: i.revision.toString(),
          })) ?? null,
        config,
        stats,
      });
      break;
    case 'stop':
      stop.abort();
      void workloads.then(() => send({ type: 'stopped', worker }));
      break;
    case 'close':
      for (const subscription of followers) subscription.unsubscribe();
      void concord.close().then(() => send({ type: 'closed', worker }));
      break;
    case 'exit':
      process.exit(0);
  }
});

send({ type: 'ready', worker, pid: process.pid });
