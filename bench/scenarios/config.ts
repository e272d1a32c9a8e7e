import type { Subscription } from 'rxjs';
import { alternate } from '../lib/alternate.js';
import { PlainConfig } from '../lib/config-baseline.js';
import { deferred, pollUntil, serverWatchers, within } from '../lib/etcd.js';
import { liveMemory } from '../lib/memory.js';
import { median, summarize } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const SUBSCRIBERS = 100;
const PAUSE_MS = 20;
// A small but realistic config: 20 keys in a few sections.
const CONFIG: Record<string, unknown> = {
  'db/host': 'db.internal',
  'db/port': 5432,
  'db/pool/min': 2,
  'db/pool/max': 20,
  'db/timeoutMs': 5000,
  'cache/ttlSeconds': 60,
  'cache/size': 10000,
  'http/port': 8080,
  'http/cors': ['https://example.com'],
  'http/timeouts/read': 30,
  'http/timeouts/write': 30,
  'log/level': 'info',
  'log/json': true,
  'features/search': true,
  'features/export': false,
  'features/rollout': 0,
  'limits/rps': 1000,
  'limits/burst': 200,
  region: 'eu-west-1',
  owner: 'team-platform',
};

interface Round {
  samples: number[];
  serverWatchers: number;
  bytesPerSubscriber: number;
}

/** One side: subscribers that report each config value they receive. */
interface Side {
  add(onValue: (rollout: unknown) => void): Promise<void>;
  ready(): Promise<void>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Config write → emission with 100 subscribers in one process. concord: 100
 * `concord.config(prefix)` handles (as independent components would create them), one `value$`
 * subscriber each; etcd3: 100 consumers that each `getAll()` the prefix, watch it and rebuild the
 * nested object on every change. A writer in another client changes one key; the sample ends
 * when all 100 subscribers received the new value.
 */
export const config: Scenario = {
  id: 'config',
  title: 'Config write → 100 subscribers',
  budgetMs: { quick: 40_000, full: 180_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const rounds = ctx.quick ? 2 : 6;
    const perRound = ctx.quick ? 10 : 40;
    const writer = ctx.scope.etcd3();
    let seq = 0;

    const round = async (make: (prefix: string) => Promise<Side>): Promise<Round> => {
      const prefix = `bench/config/${seq++}/`;
      for (const [path, value] of Object.entries(CONFIG))
        await writer.put(prefix + path).value(JSON.stringify(value));
      const base = await serverWatchers(ctx.cluster);
      const side = await make(prefix);
      let want: number | undefined;
      let got = 0;
      let all = deferred<number>();
      const onValue = (rollout: unknown) => {
        if (rollout === want && ++got === SUBSCRIBERS) all.resolve(performance.now());
      };
      try {
        await side.add(onValue);
        await side.ready();
        const memoryWithOne = liveMemory();
        for (let i = 1; i < SUBSCRIBERS; i++) await side.add(onValue);
        await side.ready();
        const bytesPerSubscriber = (liveMemory() - memoryWithOne) / (SUBSCRIBERS - 1);
        const watchers = (await serverWatchers(ctx.cluster)) - base;
        const samples: number[] = [];
        for (let i = 1; i <= perRound; i++) {
          await sleep(PAUSE_MS);
          ctx.signal.throwIfAborted();
          want = i;
          got = 0;
          all = deferred();
          const start = performance.now();
          await writer.put(`${prefix}features/rollout`).value(String(i));
          samples.push(
            (await within('every subscriber to get the new config', all.promise, 10_000, ctx.signal)) - start,
          );
        }
        return { samples, serverWatchers: watchers, bytesPerSubscriber };
      } finally {
        await side.close();
      }
    };

    const rolloutOf = (value: unknown) => (value as { features?: { rollout?: unknown } }).features?.rollout;

    const result = await alternate<Round>(
      rounds,
      {
        concord: () =>
          round(async (prefix) => {
            const concord = ctx.scope.concord();
            await concord.etcd.get('bench/warm').string();
            const base = await serverWatchers(ctx.cluster);
            const subs: Subscription[] = [];
            return {
              add: async (onValue) => {
                subs.push(concord.config(prefix).value$.subscribe((value) => onValue(rolloutOf(value))));
              },
              ready: () =>
                pollUntil(
                  'the config watch',
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
            const consumers: PlainConfig[] = [];
            return {
              add: async (onValue) => {
                const consumer = new PlainConfig(client, prefix, (value) => onValue(rolloutOf(value)));
                await consumer.start();
                consumers.push(consumer);
              },
              ready: async () => undefined,
              close: async () => {
                await Promise.all(consumers.map((c) => c.stop()));
                client.close();
              },
            };
          }),
      },
      ctx.signal,
      ctx.progress,
    );
    const c = summarize(result.concord.flatMap((r) => r.samples));
    const e = summarize(result.etcd3.flatMap((r) => r.samples));
    const both = (f: (r: Round) => number) => ({
      concord: median(result.concord.map(f)),
      etcd3: median(result.etcd3.map(f)),
    });
    return {
      params: { subscribers: SUBSCRIBERS, keys: Object.keys(CONFIG).length, writes: c.n, rounds },
      metrics: [
        {
          name: 'write → all emitted, p50',
          unit: 'ms',
          better: 'lower',
          primary: true,
          concord: c.p50,
          etcd3: e.p50,
        },
        { name: 'write → all emitted, p99', unit: 'ms', better: 'lower', concord: c.p99, etcd3: e.p99 },
        { name: 'server watchers', unit: 'count', better: 'lower', ...both((r) => r.serverWatchers) },
        {
          name: 'memory per subscriber',
          unit: 'bytes',
          better: 'lower',
          ...both((r) => r.bytesPerSubscriber),
        },
      ],
      notes: [
        `A ${Object.keys(CONFIG).length}-key config without a schema; each sample is one put of one key from another client, until all ${SUBSCRIBERS} subscribers received the new value. concord's ${SUBSCRIBERS} handles share one view (one server watch) and each builds its own value; etcd3's consumers each hold a watcher and rebuild the object from their Map.`,
      ],
    };
  },
};
