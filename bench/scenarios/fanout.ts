import { alternate } from '../lib/alternate.js';
import { deferred, pollUntil, pool, serverWatchers, within } from '../lib/etcd.js';
import { liveMemory } from '../lib/memory.js';
import { median } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

interface Round {
  deliveriesPerSec: number;
  serverWatchers: number;
  bytesPerSubscriber: number;
}

/** One way of subscribing many consumers to one prefix. */
interface Fan {
  /** Adds a subscriber that reports how many events each delivery carried. */
  add(onEvents: (count: number) => void): Promise<void>;
  /** Resolves once every subscriber added so far is live on the server. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

// Every put is issued at once, so the writer is not the bottleneck of either side.
const PUT_CONCURRENCY = 200;

/**
 * Watch fan-out: N subscribers of one prefix in one process, P puts. concord: N `watch()`
 * subscribers (one shared server-side watch); etcd3: N `client.watch().prefix()` watchers (one
 * server-side watcher each, all on etcd3's one stream per client).
 */
export const fanout: Scenario = {
  id: 'fanout',
  title: 'Watch fan-out, 1,000 subscribers',
  budgetMs: { quick: 30_000, full: 180_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const subscribers = 1_000;
    const puts = 200;
    const rounds = ctx.quick ? 1 : 5;
    const writer = ctx.scope.etcd3();
    let prefixSeq = 0;

    const round = async (open: (prefix: string) => Promise<Fan>): Promise<Round> => {
      const prefix = `bench/fanout/${prefixSeq++}/`;
      const baseWatchers = await serverWatchers(ctx.cluster);
      const fan = await open(prefix);
      try {
        let delivered = 0;
        let target = subscribers;
        let reached = deferred();
        const onEvents = (count: number) => {
          delivered += count;
          if (delivered === target) reached.resolve();
        };
        // Memory per subscriber is the growth from 1 to N subscribers, so the stream and client
        // set-up (the same for any N) is not charged to the subscribers.
        await fan.add(onEvents);
        await fan.ready();
        const memoryWithOne = liveMemory();
        for (let i = 1; i < subscribers; i++) {
          ctx.signal.throwIfAborted();
          await fan.add(onEvents);
        }
        await fan.ready();
        const bytesPerSubscriber = (liveMemory() - memoryWithOne) / (subscribers - 1);
        const watchers = (await serverWatchers(ctx.cluster)) - baseWatchers;
        // One warm-up put proves every subscriber is live before the clock starts.
        await writer.put(`${prefix}warm`).value('w');
        await within('the warm-up delivery', reached.promise, 30_000, ctx.signal);
        delivered = 0;
        target = subscribers * puts;
        reached = deferred();
        const start = performance.now();
        await pool(
          puts,
          PUT_CONCURRENCY,
          async (i) => {
            await writer.put(`${prefix}k${i}`).value(String(i));
          },
          ctx.signal,
        );
        await within('every delivery', reached.promise, 60_000, ctx.signal);
        const deliveriesPerSec = delivered / ((performance.now() - start) / 1000);
        return { deliveriesPerSec, serverWatchers: watchers, bytesPerSubscriber };
      } finally {
        await fan.close();
        await pollUntil(
          'the server watchers to go',
          async () => (await serverWatchers(ctx.cluster)) <= baseWatchers,
          ctx.signal,
        );
      }
    };

    const result = await alternate<Round>(
      rounds,
      {
        concord: () =>
          round(async (prefix) => {
            const concord = ctx.scope.concord();
            await concord.etcd.get('bench/warm').string();
            const base = await serverWatchers(ctx.cluster);
            const subs: { unsubscribe(): void }[] = [];
            return {
              add: async (onEvents) => {
                subs.push(
                  concord.watch({ prefix }).subscribe((batch) => {
                    if (batch.type === 'events') onEvents(batch.events.length);
                  }),
                );
              },
              ready: () =>
                pollUntil(
                  'the shared watch',
                  async () => (await serverWatchers(ctx.cluster)) > base,
                  ctx.signal,
                ),
              close: async () => {
                for (const sub of subs) sub.unsubscribe();
                await concord.close();
              },
            };
          }),
        etcd3: () =>
          round(async (prefix) => {
            const client = ctx.scope.etcd3();
            await client.get('bench/warm').string();
            const watchers: { cancel(): Promise<void> }[] = [];
            return {
              add: async (onEvents) => {
                // create() resolves once etcd confirmed the watcher.
                const watcher = await client.watch().prefix(prefix).create();
                watcher.on('data', (res) => onEvents(res.events.length));
                watchers.push(watcher);
              },
              ready: async () => undefined,
              close: async () => {
                // grpc-js keeps open streams alive through client.close(): cancel each watcher first.
                await Promise.all(watchers.map((w) => w.cancel()));
                client.close();
              },
            };
          }),
      },
      ctx.signal,
      ctx.progress,
    );

    const pick = (rs: Round[], f: (r: Round) => number) => median(rs.map(f));
    const c = result.concord;
    const e = result.etcd3;
    const rate = { concord: pick(c, (r) => r.deliveriesPerSec), etcd3: pick(e, (r) => r.deliveriesPerSec) };
    const watchers = { concord: pick(c, (r) => r.serverWatchers), etcd3: pick(e, (r) => r.serverWatchers) };
    const ratio = rate.concord / rate.etcd3;
    return {
      params: { subscribers, puts, rounds, putsInFlight: PUT_CONCURRENCY },
      metrics: [
        { name: 'deliveries/s', unit: 'ops/s', better: 'higher', primary: true, ...rate },
        { name: 'server watchers', unit: 'count', better: 'lower', ...watchers },
        {
          name: 'memory per subscriber',
          unit: 'bytes',
          better: 'lower',
          concord: pick(c, (r) => r.bytesPerSubscriber),
          etcd3: pick(e, (r) => r.bytesPerSubscriber),
        },
      ],
      targets: [
        {
          goal: '≥ 5× etcd3 deliveries/s with 1 server watcher instead of 1,000',
          actual: `${ratio.toFixed(1)}× with ${watchers.concord} vs ${watchers.etcd3} server watchers`,
          met: ratio >= 5 && watchers.concord === 1,
        },
      ],
      notes: [
        `Deliveries/s = subscribers × puts / (first put → last delivery), all puts issued at once from a separate client; median of the rounds. Memory per subscriber = growth of the JS heap + array buffers from 1 to ${subscribers.toLocaleString('en-US')} subscribers, after full GCs.`,
      ],
    };
  },
};
