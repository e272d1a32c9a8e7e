import { spawnWorker } from '../../test/support/worker.js';
import { alternate } from '../lib/alternate.js';
import { CONCORD_BUNDLE } from '../lib/concord.js';
import { pollUntil, pool, serverWatchers } from '../lib/etcd.js';
import { median } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const WORKER = 'bench/workers/scale-subscriber.ts';

interface Round {
  subscribeMs: number;
  serverWatchers: number;
  bytesPerSubscription: number;
  deliveriesPerSec: number;
}

/**
 * Scale: many subscriptions over many prefixes in one process (a worker process, so its heap
 * is measured clean and killing it drops whatever it held). concord: `watch({ prefix })` per
 * subscription, one server-side watch per prefix; etcd3: one watcher per subscription.
 */
export const scale: Scenario = {
  id: 'scale',
  title: 'Scale: subscriptions in one process',
  budgetMs: { quick: 45_000, full: 420_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const prefixes = ctx.quick ? 100 : 1_000;
    const perPrefix = 100;
    const total = prefixes * perPrefix;
    const rounds = ctx.quick ? 1 : 2;
    const writer = ctx.scope.etcd3();

    const round = async (mode: 'concord' | 'etcd3'): Promise<Round> => {
      const base = await serverWatchers(ctx.cluster);
      const worker = spawnWorker(WORKER, {
        args: [mode, ctx.cluster.endpoints.join(','), String(prefixes), String(perPrefix), CONCORD_BUNDLE],
      });
      const stop = ctx.scope.defer(async () => {
        await worker.kill();
        // Not ctx.signal: this cleanup also runs after the scenario timed out.
        await pollUntil(
          'the worker watchers to go',
          async () => (await serverWatchers(ctx.cluster)) <= base,
          AbortSignal.timeout(60_000),
          60_000,
          100,
        );
      });
      try {
        await worker.waitFor((m) => m.type === 'ready', 30_000);
        // The worker's own warm-up watch is not one of the measured subscriptions.
        await pollUntil(
          'the warm-up watch',
          async () => (await serverWatchers(ctx.cluster)) > base,
          ctx.signal,
        );
        const before = base + 1;
        const expectedWatchers = mode === 'concord' ? prefixes : total;
        const start = performance.now();
        worker.send({ cmd: 'subscribe' });
        await worker.waitFor((m) => m.type === 'subscribing-done', 300_000);
        await pollUntil(
          `${expectedWatchers} server watchers`,
          async () => (await serverWatchers(ctx.cluster)) - before >= expectedWatchers,
          ctx.signal,
          300_000,
          50,
        );
        const subscribeMs = performance.now() - start;
        const watchers = (await serverWatchers(ctx.cluster)) - before;
        ctx.progress(`${mode}: ${total} subscriptions live in ${(subscribeMs / 1000).toFixed(1)} s`);
        worker.send({ cmd: 'measure' });
        const memory = await worker.waitFor((m) => m.type === 'memory', 60_000);
        // One put per prefix: every subscription gets one event.
        worker.send({ cmd: 'expect', count: total });
        const putsStart = performance.now();
        await pool(
          prefixes,
          64,
          async (p) => {
            await writer.put(`bench/scale/p${String(p).padStart(4, '0')}/k`).value(String(p));
          },
          ctx.signal,
        );
        await worker.waitFor((m) => m.type === 'delivered', 300_000);
        const deliveriesPerSec = total / ((performance.now() - putsStart) / 1000);
        return {
          subscribeMs,
          serverWatchers: watchers,
          bytesPerSubscription: memory.bytesPerSubscription as number,
          deliveriesPerSec,
        };
      } finally {
        await stop();
      }
    };

    const result = await alternate<Round>(
      rounds,
      { concord: () => round('concord'), etcd3: () => round('etcd3') },
      ctx.signal,
      ctx.progress,
    );
    const both = (f: (r: Round) => number) => ({
      concord: median(result.concord.map(f)),
      etcd3: median(result.etcd3.map(f)),
    });
    const watchers = both((r) => r.serverWatchers);
    return {
      params: { subscriptions: total, prefixes, perPrefix, rounds },
      metrics: [
        {
          name: 'memory per subscription',
          unit: 'bytes',
          better: 'lower',
          primary: true,
          ...both((r) => r.bytesPerSubscription),
        },
        { name: 'server watchers', unit: 'count', better: 'lower', ...watchers },
        { name: 'subscribe all → live', unit: 'ms', better: 'lower', ...both((r) => r.subscribeMs) },
        {
          name: 'one put per prefix: deliveries/s',
          unit: 'ops/s',
          better: 'higher',
          ...both((r) => r.deliveriesPerSec),
        },
      ],
      targets: [
        {
          goal: `server watchers = ${prefixes.toLocaleString('en-US')} for ${total.toLocaleString('en-US')} subscriptions`,
          actual: `concord ${watchers.concord}, etcd3 ${watchers.etcd3}`,
          met: watchers.concord === prefixes,
        },
      ],
      notes: [
        'Each side runs in a fresh worker process. Memory per subscription = growth of its JS heap + array buffers (after full GCs) from an open client to all subscriptions live. "Subscribe all → live" ends when etcd reports every server watcher created. Then one put per prefix from the parent; deliveries/s = subscriptions / (first put → last delivery).',
      ],
    };
  },
};
