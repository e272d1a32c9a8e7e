import { alternate } from '../lib/alternate.js';
import { pollUntil, serverWatchers, within } from '../lib/etcd.js';
import { summarize } from '../lib/stats.js';
import { Arrivals } from '../lib/timing.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

/**
 * Puts per side before the clock starts. Until V8 has compiled the put and delivery paths (the
 * first ~2,000 round trips) 2-4% of the puts take 2-4 ms, on either side: on 2 cores the
 * compiler threads compete with etcd. That is a process's first second, not its steady state,
 * and Go's peer (compiled ahead of time) has no such phase.
 */
const WARMUP = 2_000;

/**
 * Put-to-subscriber latency: one writer puts a key, one subscriber in the same process receives
 * it. concord: `concord.watch({ key })`; etcd3: `client.watch().key()`. Both subscribers stay
 * open for the whole scenario on their own key; the rounds alternate which key is written, so
 * only one side has traffic at a time. No memory figure: one subscriber is noise next to a client.
 */
export const latency: Scenario = {
  id: 'latency',
  title: 'Put-to-subscriber latency',
  budgetMs: { quick: 30_000, full: 120_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const rounds = ctx.quick ? 2 : 10;
    const perRound = ctx.quick ? 50 : 100;
    // The writer is a Concord of its own, so its puts leave on a connection of their own (on the
    // etcd3 subscriber's connection the watch event would arrive in the same socket read as the
    // put's answer, ~10% sooner than on any other), the way a concord user writes; both
    // subscribers get the same writer. Go's peer writes from a client of its own too.
    const writer = ctx.scope.concord().etcd;
    await writer.get('bench/warm').string();

    const concordArrivals = new Arrivals();
    const concord = ctx.scope.concord();
    const base = await serverWatchers(ctx.cluster);
    const sub = concord.watch({ key: 'bench/latency/concord' }).subscribe((batch) => {
      if (batch.type === 'events') for (const e of batch.events) concordArrivals.arrived(Number(e.kv.value));
    });
    ctx.scope.defer(() => sub.unsubscribe());
    // A watch "from now" misses puts made before etcd created it: wait for it to exist.
    await pollUntil('the concord watch', async () => (await serverWatchers(ctx.cluster)) > base, ctx.signal);

    const etcd3Arrivals = new Arrivals();
    const client = ctx.scope.etcd3();
    const watcher = await client.watch().key('bench/latency/etcd3').create();
    watcher.on('data', (res) => {
      for (const e of res.events) etcd3Arrivals.arrived(Number(e.kv.value!.toString()));
    });
    ctx.scope.defer(() => watcher.cancel());

    let seq = 0;
    const measure = async (key: string, arrivals: Arrivals, count: number): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 0; i < count; i++) {
        ctx.signal.throwIfAborted();
        const id = seq++;
        const arrived = arrivals.expect(id);
        const start = performance.now();
        await writer.put(key).value(String(id));
        samples.push((await within(`delivery of put ${id}`, arrived, 10_000, ctx.signal)) - start);
      }
      return samples;
    };
    // The first puts of each side warm up the JIT and the connections; they are not counted.
    await measure('bench/latency/concord', concordArrivals, WARMUP);
    await measure('bench/latency/etcd3', etcd3Arrivals, WARMUP);

    const result = await alternate<number[]>(
      rounds,
      {
        concord: () => measure('bench/latency/concord', concordArrivals, perRound),
        etcd3: () => measure('bench/latency/etcd3', etcd3Arrivals, perRound),
      },
      ctx.signal,
      ctx.progress,
    );
    const c = summarize(result.concord.flat());
    const e = summarize(result.etcd3.flat());
    const overhead = c.p50 / e.p50 - 1;
    return {
      params: { samples: c.n, rounds, putsPerRound: perRound },
      metrics: [
        { name: 'latency p50', unit: 'ms', better: 'lower', primary: true, concord: c.p50, etcd3: e.p50 },
        { name: 'latency p99', unit: 'ms', better: 'lower', concord: c.p99, etcd3: e.p99 },
      ],
      targets: [
        {
          goal: 'p50 within 10% of raw etcd3',
          actual: `${c.p50.toFixed(3)} ms vs ${e.p50.toFixed(3)} ms (${overhead >= 0 ? '+' : ''}${(overhead * 100).toFixed(1)}%)`,
          met: overhead <= 0.1,
        },
      ],
      notes: [
        `Latency = put issued → value in the subscriber's callback; sequential puts from a separate Concord in the same process (concord.etcd.put, on a connection of its own, not shared with either subscriber), ${WARMUP.toLocaleString('en-US')} warm-up puts per side not counted (until V8 has compiled the path, 2-4% of the puts take 2-4 ms on either side: the process's first second, not its steady state).`,
      ],
    };
  },
};
