// The churn of the soak: every primitive, over and over, each iteration ending where it started
// (whatever it acquired released, whatever it subscribed unsubscribed), so that the resources in
// use between iterations stay the same. Long-lived things (a few registrations, a config reader,
// a view) live for the whole run and are updated and re-registered meanwhile.
import type { Etcd3 } from 'etcd3';
import { filter, firstValueFrom, take } from 'rxjs';
import type { Concord } from '../../src/concord.js';
import type { Registration } from '../../src/service/registration.js';
import { sleep } from '../support/wait.js';

/** What a workload iteration gets. */
export interface SoakContext {
  /** The Concord whose resources the soak measures. */
  readonly concord: Concord;
  /** A plain etcd3 client for what other clients do (revoking a lease, writing config). */
  readonly admin: Etcd3;
}

/** One kind of churn: `iteration` runs again and again; `setup`/`teardown` once around the run. */
export interface Workload {
  readonly name: string;
  /** How many copies run side by side. */
  readonly copies: number;
  setup?(ctx: SoakContext): Promise<void>;
  iteration(ctx: SoakContext, copy: number, round: number): Promise<void>;
  teardown?(ctx: SoakContext): Promise<void>;
}

const rand = (max: number) => Math.floor(Math.random() * max);

/** Subscribes to `source`, waits for the first value matching `pred`, unsubscribes. */
async function until<T>(
  source: import('rxjs').Observable<T>,
  pred: (v: T) => boolean = () => true,
): Promise<T> {
  return firstValueFrom(source.pipe(filter(pred), take(1)));
}

const mutex: Workload = {
  name: 'mutex',
  copies: 3,
  async iteration({ concord }, _copy, round) {
    const m = concord.mutex('soak-mutex', { ttl: 5 });
    if (round % 5 === 0) {
      const maybe = await m.tryLock();
      await maybe?.release();
      return;
    }
    if (round % 7 === 0) {
      // The Observable form: acquire on subscribe, release on unsubscribe.
      const sub = m.hold$().subscribe({ error: () => undefined });
      await sleep(rand(30));
      sub.unsubscribe();
      return;
    }
    const lock = await m.lock();
    await lock.txn([{ type: 'put', key: 'soak-data/fenced', value: String(round) }]);
    await sleep(rand(10));
    await lock.release();
  },
};

const rwlock: Workload = {
  name: 'rwlock',
  copies: 3,
  async iteration({ concord }, copy, round) {
    const rw = concord.rwlock('soak-rw', { ttl: 5 });
    const handle = copy === 0 && round % 2 === 0 ? await rw.write() : await rw.read();
    await sleep(rand(10));
    await handle.release();
  },
};

const semaphore: Workload = {
  name: 'semaphore',
  copies: 3,
  async iteration({ concord }) {
    const permit = await concord.semaphore('soak-sem', { permits: 2, ttl: 5 }).acquire();
    await sleep(rand(10));
    await permit.release();
  },
};

function election(layout: 'etcd3' | 'go'): Workload {
  return {
    name: `election (${layout})`,
    copies: 3,
    async iteration({ concord }, copy, round) {
      const el = concord.election(layout === 'go' ? 'soak/leader' : 'soak-leader', { layout, ttl: 5 });
      if (copy === 0 && round % 3 === 0) {
        // An observer that comes and goes.
        const sub = el.leader$.subscribe();
        await sleep(rand(50));
        sub.unsubscribe();
        await el.leader();
        return;
      }
      const leadership = await until(el.campaign(`c${copy}-${round}`));
      // `until` unsubscribed: that resigned it. Handoffs happen every iteration.
      if (leadership.isLeader) throw new Error('still leading after the campaign was unsubscribed');
    },
  };
}

/** Campaigns held open long enough to proclaim, then resigned by hand. */
const leadership: Workload = {
  name: 'leadership',
  copies: 2,
  async iteration({ concord }, copy, round) {
    let resolve!: (l: import('../../src/election/leadership.js').Leadership) => void;
    const elected = new Promise<import('../../src/election/leadership.js').Leadership>((r) => (resolve = r));
    const sub = concord
      .election('soak-proclaim', { ttl: 5 })
      .campaign(`p${copy}`)
      .subscribe({ next: resolve, error: () => undefined });
    const l = await elected;
    await l.proclaim(`p${copy}-${round}`);
    await l.txn([{ type: 'put', key: 'soak-data/leader', value: String(round) }]);
    await l.resign();
    sub.unsubscribe();
  },
};

const longLived: Registration[] = [];

const registry: Workload = {
  name: 'registry',
  copies: 2,
  async setup({ concord }) {
    for (let i = 0; i < 2; i++) {
      longLived.push(
        await concord
          .registry()
          .register({ service: 'soak-svc', address: `10.0.0.${i}:80`, id: `long-${i}` }, { ttl: 5 }),
      );
    }
  },
  async iteration({ concord, admin }, copy, round) {
    if (copy === 0 && round % 10 === 9) {
      // A lost lease: the registration re-registers by itself under a new one.
      const reg = longLived[rand(longLived.length)]!;
      const state = await until(reg.state$);
      if (state.status !== 'registered') return;
      await admin.leaseClient.leaseRevoke({ ID: state.leaseId });
      await until(reg.state$, (s) => s.status === 'registered' && s.leaseId !== state.leaseId);
      return;
    }
    if (copy === 0) {
      await longLived[round % longLived.length]!.update({ meta: { round } });
      return;
    }
    const reg = await concord
      .registry()
      .register({ service: 'soak-svc', address: `10.1.0.${round % 250}:80` }, { ttl: 5 });
    await reg.update({ address: `10.2.0.${round % 250}:80` });
    await reg.deregister();
  },
  async teardown() {
    for (const reg of longLived.splice(0)) await reg.deregister();
  },
};

const discovery: Workload = {
  name: 'discovery',
  copies: 2,
  async iteration({ concord }, copy, round) {
    const d = concord.discovery();
    if (copy === 0) {
      const picker = d.picker('soak-svc', { strategy: round % 2 ? 'random' : 'round-robin' });
      await picker.ready();
      for (let i = 0; i < 10; i++) picker.next();
      picker.close();
      return;
    }
    const sub = round % 2 ? d.instances$('soak-svc').subscribe() : d.changes$('soak-svc').subscribe();
    await sleep(rand(50));
    sub.unsubscribe();
  },
};

const watches: Workload = {
  name: 'watch/view',
  copies: 3,
  async iteration({ concord }, copy, round) {
    if (copy === 0) {
      const sub = concord.view({ prefix: `soak-data/${round % 5}` }).subscribe();
      await sleep(rand(50));
      sub.unsubscribe();
      return;
    }
    if (copy === 1) {
      const sub = concord.watch({ prefix: 'soak-data/' }, { prevKv: round % 2 === 0 }).subscribe();
      await sleep(rand(50));
      sub.unsubscribe();
      return;
    }
    const iterator = concord.watchIterator({ prefix: 'soak-data/' }, { maxBuffered: 10 });
    await iterator.next();
    await iterator.return?.();
  },
};

const writes: Workload = {
  name: 'writes',
  copies: 1,
  async iteration({ concord }, _copy, round) {
    const key = `soak-data/${round % 50}`;
    if (round % 9 === 0) await concord.etcd.delete().key(key);
    else await concord.etcd.put(key).value(String(round));
    await sleep(5);
  },
};

let configReader: import('rxjs').Subscription | undefined;

const config: Workload = {
  name: 'config',
  copies: 2,
  async setup({ concord }) {
    configReader = concord.config('soak-cfg').value$.subscribe();
  },
  async iteration({ concord, admin }, copy, round) {
    if (copy === 0) {
      await concord.config('soak-cfg').set(`k${round % 20}`, { round });
      await admin.put(`soak-cfg/raw${round % 5}`).value(String(round));
      return;
    }
    const cfg = concord.config('soak-cfg', { defaults: { k0: {} } });
    const sub = cfg.value$.subscribe();
    await cfg.load();
    sub.unsubscribe();
    await cfg.close();
  },
  async teardown() {
    configReader?.unsubscribe();
  },
};

const sessions: Workload = {
  name: 'sessions',
  copies: 1,
  async iteration({ concord }) {
    const session = await concord.session({ ttl: 3 });
    await sleep(rand(20));
    await session.close();
  },
};

/** Every workload of the soak. */
export const WORKLOADS: readonly Workload[] = [
  mutex,
  rwlock,
  semaphore,
  election('etcd3'),
  election('go'),
  leadership,
  registry,
  discovery,
  watches,
  writes,
  config,
  sessions,
];
