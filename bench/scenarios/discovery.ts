import type { Session } from 'concord-etcd';
import type { Subscription } from 'rxjs';
import { alternate } from '../lib/alternate.js';
import { PlainConsumer } from '../lib/discovery-baseline.js';
import { deferred, pollUntil, serverWatchers, within } from '../lib/etcd.js';
import { median, summarize } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const CONSUMERS = 50;
const TTL = 10;
const PAUSE_MS = 20;

interface Round {
  up: number[];
  /** drain() → every consumer sees the instance draining (concord only). */
  drain: number[];
  down: number[];
  serverWatchers: number;
}

/** How a consumer sees an instance id. */
type Seen = 'absent' | 'serving' | 'draining';

/** A registered instance: `drain` where the side has it, and the way to remove it. */
interface Registered {
  drain?: () => Promise<void>;
  remove: () => Promise<void>;
}

/** One side: consumers that report how they see each instance id, and a registrant. */
interface Side {
  /** Starts consumer `i`; `seen(i, state)` runs on every change it observes. */
  addConsumer(i: number): Promise<void>;
  /** Consumers are live on the server. */
  ready(): Promise<void>;
  register(id: string): Promise<Registered>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registration → discovery with 50 consumers in one process. concord: one Concord with 50
 * `discovery.instances$(service)` subscribers (one shared watch), a registrant Concord that
 * registers with a session it already holds; etcd3: 50 consumers that each `getAll()` the
 * service prefix and watch it, a registrant that puts the instance JSON with a lease it holds.
 */
export const discovery: Scenario = {
  id: 'discovery',
  title: 'Registration → 50 consumers',
  budgetMs: { quick: 40_000, full: 180_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const rounds = ctx.quick ? 2 : 6;
    const perRound = ctx.quick ? 10 : 40;
    let seq = 0;

    const round = async (
      make: (service: string, seen: (i: number, state: (id: string) => Seen) => void) => Promise<Side>,
    ): Promise<Round> => {
      const service = `svc${seq++}`;
      let want: { id: string; state: Seen; done: (at: number) => void } | undefined;
      const agreeing = new Set<number>();
      const seen = (i: number, state: (id: string) => Seen) => {
        if (!want) return;
        if (state(want.id) === want.state) agreeing.add(i);
        else agreeing.delete(i);
        if (agreeing.size === CONSUMERS) want.done(performance.now());
      };
      const base = await serverWatchers(ctx.cluster);
      const side = await make(service, seen);
      try {
        for (let i = 0; i < CONSUMERS; i++) await side.addConsumer(i);
        await side.ready();
        const watchers = (await serverWatchers(ctx.cluster)) - base;
        const up: number[] = [];
        const drain: number[] = [];
        const down: number[] = [];
        // Waits until every consumer sees `id` in `state`.
        const expect = (id: string, state: Seen) => {
          const reached = deferred<number>();
          agreeing.clear();
          want = { id, state, done: reached.resolve };
          return reached.promise;
        };
        for (let i = 0; i < perRound; i++) {
          await sleep(PAUSE_MS);
          ctx.signal.throwIfAborted();
          const id = `i${i}`;
          const appeared = expect(id, 'serving');
          const start = performance.now();
          const registered = await side.register(id);
          up.push((await within('every consumer to see the instance', appeared, 10_000, ctx.signal)) - start);
          if (registered.drain) {
            await sleep(PAUSE_MS);
            const draining = expect(id, 'draining');
            const drainAt = performance.now();
            await registered.drain();
            drain.push(
              (await within('every consumer to see it draining', draining, 10_000, ctx.signal)) - drainAt,
            );
          }
          await sleep(PAUSE_MS);
          const gone = expect(id, 'absent');
          const stop = performance.now();
          await registered.remove();
          down.push((await within('every consumer to see it gone', gone, 10_000, ctx.signal)) - stop);
        }
        want = undefined;
        return { up, drain, down, serverWatchers: watchers };
      } finally {
        await side.close();
      }
    };

    const result = await alternate<Round>(
      rounds,
      {
        concord: () =>
          round(async (service, seen) => {
            const consumers = ctx.scope.concord();
            const registrant = ctx.scope.concord();
            const session: Session = await registrant.session({ ttl: TTL });
            const registry = registrant.registry();
            const found = consumers.discovery();
            const subs: Subscription[] = [];
            const base = await serverWatchers(ctx.cluster);
            return {
              addConsumer: async (i) => {
                subs.push(
                  found
                    .instances$(service)
                    .subscribe((list) => seen(i, (id) => list.find((x) => x.id === id)?.status ?? 'absent')),
                );
              },
              ready: () =>
                pollUntil(
                  'the discovery watch',
                  async () => (await serverWatchers(ctx.cluster)) > base,
                  ctx.signal,
                ),
              register: async (id) => {
                const registration = await registry.register(
                  { service, id, address: `10.0.0.1:${9000 + Number(id.slice(1))}` },
                  { session },
                );
                return { drain: () => registration.drain(), remove: () => registration.deregister() };
              },
              close: async () => {
                for (const sub of subs) sub.unsubscribe();
                await Promise.all([consumers.close(), registrant.close()]);
              },
            };
          }),
        etcd3: () =>
          round(async (service, seen) => {
            const client = ctx.scope.etcd3();
            const registrant = ctx.scope.etcd3();
            const lease = registrant.lease(TTL, { autoKeepAlive: true });
            await lease.grant();
            const prefix = `services/${service}/`;
            const consumers: PlainConsumer[] = [];
            return {
              addConsumer: async (i) => {
                const consumer = new PlainConsumer(client, prefix, (c) =>
                  seen(i, (id) => (c.instances.has(id) ? 'serving' : 'absent')),
                );
                await consumer.start();
                consumers.push(consumer);
              },
              ready: async () => undefined,
              register: async (id) => {
                const key = `${prefix}${id}`;
                const value = JSON.stringify({
                  address: `10.0.0.1:${9000 + Number(id.slice(1))}`,
                  registeredAt: new Date().toISOString(),
                });
                await lease.put(key).value(value);
                return {
                  remove: () =>
                    registrant
                      .delete()
                      .key(key)
                      .then(() => undefined),
                };
              },
              close: async () => {
                await Promise.all(consumers.map((c) => c.stop()));
                await lease.revoke();
                client.close();
                registrant.close();
              },
            };
          }),
      },
      ctx.signal,
      ctx.progress,
    );
    const cu = summarize(result.concord.flatMap((r) => r.up));
    const eu = summarize(result.etcd3.flatMap((r) => r.up));
    const cd = summarize(result.concord.flatMap((r) => r.down));
    const ed = summarize(result.etcd3.flatMap((r) => r.down));
    const drained = summarize(result.concord.flatMap((r) => r.drain));
    const both = (f: (r: Round) => number) => ({
      concord: median(result.concord.map(f)),
      etcd3: median(result.etcd3.map(f)),
    });
    return {
      params: { consumers: CONSUMERS, registrations: cu.n, rounds },
      metrics: [
        {
          name: 'register → seen by all, p50',
          unit: 'ms',
          better: 'lower',
          primary: true,
          concord: cu.p50,
          etcd3: eu.p50,
        },
        { name: 'register → seen by all, p99', unit: 'ms', better: 'lower', concord: cu.p99, etcd3: eu.p99 },
        {
          name: 'out of rotation for all, p99',
          unit: 'ms',
          better: 'lower',
          concord: drained.p99,
          etcd3: ed.p99,
        },
        {
          name: 'deregister → gone for all, p50',
          unit: 'ms',
          better: 'lower',
          concord: cd.p50,
          etcd3: ed.p50,
        },
        { name: 'server watchers', unit: 'count', better: 'lower', ...both((r) => r.serverWatchers) },
      ],
      notes: [
        `Time from the registrant's call (concord \`register()\` with a session it holds; etcd3 a put with a lease it holds) until all ${CONSUMERS} consumers in another client list the instance; then the same for deregistering. "Out of rotation": the registrant stops new work going to the instance: concord \`drain()\` until every consumer sees it draining (no picker chooses it from then on; it stays listed while its requests finish), etcd3 the delete until every consumer has dropped it (a plain consumer has no other way). concord consumers receive the full sorted instance list on every change; etcd3 consumers keep a Map. No memory figure: 50 consumers are too few to measure per-consumer heap above the noise (see fan-out, config and scale).`,
      ],
    };
  },
};
