import { alternate } from '../lib/alternate.js';
import { PlainConsumer } from '../lib/discovery-baseline.js';
import { deferred, within } from '../lib/etcd.js';
import { loadKeys } from '../lib/load.js';
import { liveMemory, settledMemory } from '../lib/memory.js';
import { median } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const SERVICE = 'bench-big';
const EXTRA_REGISTRATIONS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Round {
  ms: number;
  bytes: number;
  /** One more instance registered while the 10,000 are followed → seen by the consumer. */
  oneMoreMs: number;
}

/**
 * Initial load: a consumer starts following a service that has 10,000 registered instances.
 * concord: `discovery.instances$(service)` until its first list (10,000 instances); etcd3:
 * `getAll()` of the service prefix, each value parsed into a Map, and a watcher from the
 * revision after the read.
 */
export const discoveryLoad: Scenario = {
  id: 'discovery-load',
  title: 'Discovery: load 10,000 instances',
  budgetMs: { quick: 30_000, full: 120_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const instances = 10_000;
    // Nine rounds: each one is short, and the median of nine holds on a busy machine.
    const rounds = ctx.quick ? 1 : 9;
    // The registrar has a connection of its own, as a service registering from its own process
    // has (and as in the latency scenario): on the etcd3 consumer's connection (equal options, so
    // gRPC shares it), the watch event arrives in the same socket read as the put's answer, which
    // gave the etcd3 side ~0.1 ms of "one more registration" that no real consumer gets.
    const writer = ctx.scope.etcd3(undefined, true);
    ctx.progress(`registering ${instances} instances`);
    const registeredAt = new Date().toISOString();
    await loadKeys(
      writer,
      instances,
      (i) => `services/${SERVICE}/i${String(i).padStart(5, '0')}`,
      (i) =>
        JSON.stringify({
          address: `10.1.${i >> 8}.${i & 255}:8080`,
          meta: { zone: `z${i % 3}` },
          registeredAt,
        }),
      ctx.signal,
    );

    // The consumer under test reports its list size here; `expectSize` waits for a size.
    let want: { size: number; done: (at: number) => void } | undefined;
    const sized = (size: number) => {
      if (want && size === want.size) {
        want.done(performance.now());
        want = undefined;
      }
    };
    const expectSize = (size: number) => {
      const reached = deferred<number>();
      want = { size, done: reached.resolve };
      return reached.promise;
    };
    // Steady state with 10,000 followed: registers and removes one more instance a few times and
    // resolves with the median time from the put to the consumer listing it.
    const oneMore = async (): Promise<number> => {
      const samples: number[] = [];
      for (let i = 0; i < EXTRA_REGISTRATIONS; i++) {
        await sleep(100);
        const listed = expectSize(instances + 1);
        const start = performance.now();
        await writer
          .put(`services/${SERVICE}/x`)
          .value(JSON.stringify({ address: '10.2.0.1:8080', registeredAt }));
        samples.push((await within('the extra instance', listed, 10_000, ctx.signal)) - start);
        const gone = expectSize(instances);
        await writer.delete().key(`services/${SERVICE}/x`);
        await within('the extra instance to go', gone, 10_000, ctx.signal);
      }
      return median(samples);
    };

    const result = await alternate<Round>(
      rounds,
      {
        concord: async () => {
          const concord = ctx.scope.concord();
          await concord.etcd.get('bench/warm').string();
          const before = liveMemory();
          const loaded = expectSize(instances);
          const start = performance.now();
          const sub = concord
            .discovery()
            .instances$(SERVICE)
            .subscribe((list) => sized(list.length));
          try {
            const ms = (await within('the first full list', loaded, 30_000, ctx.signal)) - start;
            const bytes = (await settledMemory()) - before;
            return { ms, bytes, oneMoreMs: await oneMore() };
          } finally {
            sub.unsubscribe();
            await concord.close();
          }
        },
        etcd3: async () => {
          const client = ctx.scope.etcd3();
          await client.get('bench/warm').string();
          const before = liveMemory();
          const loaded = expectSize(instances);
          const consumer = new PlainConsumer(client, `services/${SERVICE}/`, (c) => sized(c.instances.size));
          const start = performance.now();
          try {
            await consumer.start();
            const ms = (await within('the full map', loaded, 30_000, ctx.signal)) - start;
            const bytes = (await settledMemory()) - before;
            return { ms, bytes, oneMoreMs: await oneMore() };
          } finally {
            await consumer.stop();
            client.close();
          }
        },
      },
      ctx.signal,
      ctx.progress,
    );
    const both = (f: (r: Round) => number) => ({
      concord: median(result.concord.map(f)),
      etcd3: median(result.etcd3.map(f)),
    });
    return {
      params: { instances, rounds },
      metrics: [
        { name: 'subscribe → full list', unit: 'ms', better: 'lower', primary: true, ...both((r) => r.ms) },
        { name: 'one more registration → listed', unit: 'ms', better: 'lower', ...both((r) => r.oneMoreMs) },
        { name: 'memory holding the instances', unit: 'bytes', better: 'lower', ...both((r) => r.bytes) },
      ],
      notes: [
        `concord reads the prefix in pages of 5,000 keys (its default) at one revision, the next page requested before the current one is converted, decodes each page straight from the wire (key, value and mod revision), and keeps one parsed instance per key (with service, id, address, meta, registeredAt, status, key and revision) in one shared sorted list, values equal among instances (meta, registeredAt, revision) kept once; the etcd3 consumer reads everything in one request into a Map of parsed \`{ id, address, meta }\`. Median of the rounds; memory = heap growth while the consumer is live, taken one event-loop turn after the full list (so the raw response still referenced by the callback that delivered it is not counted, for either side). "One more registration" = median of 5 puts of a 10,001st instance (100 ms apart, each removed again, written by a client with a connection of its own) → the consumer lists it (concord re-parses only the changed key and merges it into the sorted list).`,
      ],
    };
  },
};
