import { alternate } from '../lib/alternate.js';
import { deferred, within } from '../lib/etcd.js';
import { loadKeys } from '../lib/load.js';
import { liveMemory } from '../lib/memory.js';
import { median } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const PREFIX = 'bench/resync/';

interface Round {
  ms: number;
  bytes: number;
}

/**
 * Resync after compaction: a subscriber resumes a 10,000-key prefix from a revision etcd has
 * compacted away (what happens after a disconnect that outlived the history). concord: the hub
 * gets the compaction cancel, re-reads the prefix in pages and emits one `resync` batch.
 * etcd3: the watcher emits an error; the application re-reads the prefix with `getAll()`,
 * rebuilds its map and starts a new watcher after that read.
 */
export const resync: Scenario = {
  id: 'resync',
  title: 'Resync after compaction, 10,000 keys',
  budgetMs: { quick: 30_000, full: 120_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const keys = 10_000;
    const rounds = ctx.quick ? 1 : 5;
    const writer = ctx.scope.etcd3();
    ctx.progress(`loading ${keys} keys`);
    const value = (i: number) => JSON.stringify({ id: i, address: `10.0.${i >> 8}.${i & 255}:8080` });
    const before = await loadKeys(
      writer,
      keys,
      (i) => `${PREFIX}k${String(i).padStart(5, '0')}`,
      value,
      ctx.signal,
    );
    // History after `before`, then compaction past it: a watch resuming at `before` is too old.
    for (let i = 0; i < 10; i++) await writer.put(`${PREFIX}k${String(i).padStart(5, '0')}`).value(value(i));
    await ctx.cluster.compact();

    const result = await alternate<Round>(
      rounds,
      {
        concord: async () => {
          const concord = ctx.scope.concord();
          await concord.etcd.get('bench/warm').string();
          const memory = liveMemory();
          const done = deferred<ReadonlyMap<string, unknown>>();
          const start = performance.now();
          const sub = concord.watch({ prefix: PREFIX }, { fromRevision: before }).subscribe((batch) => {
            if (batch.type === 'resync') done.resolve(batch.snapshot);
          });
          try {
            const snapshot = await within('the resync batch', done.promise, 30_000, ctx.signal);
            const ms = performance.now() - start;
            if (snapshot.size !== keys) throw new Error(`resync had ${snapshot.size} keys, expected ${keys}`);
            return { ms, bytes: liveMemory() - memory };
          } finally {
            sub.unsubscribe();
            await concord.close();
          }
        },
        etcd3: async () => {
          const client = ctx.scope.etcd3();
          await client.get('bench/warm').string();
          const memory = liveMemory();
          const done = deferred<Map<string, string>>();
          const start = performance.now();
          const stale = await client.watch().prefix(PREFIX).startRevision(before.toString()).create();
          let fresh: Promise<{ cancel(): Promise<void> }> | undefined;
          stale.on('error', () => {
            // The hand-written recovery: read everything again, then watch from after that read.
            client
              .getAll()
              .prefix(PREFIX)
              .exec()
              .then((res) => {
                const state = new Map<string, string>();
                for (const kv of res.kvs) state.set(kv.key.toString(), kv.value.toString());
                done.resolve(state);
                fresh = client
                  .watch()
                  .prefix(PREFIX)
                  .startRevision((BigInt(res.header.revision) + 1n).toString())
                  .create();
              }, done.reject);
          });
          try {
            const state = await within(
              'the re-read after the compaction error',
              done.promise,
              30_000,
              ctx.signal,
            );
            const ms = performance.now() - start;
            if (state.size !== keys) throw new Error(`re-read had ${state.size} keys, expected ${keys}`);
            const bytes = liveMemory() - memory;
            return { ms, bytes };
          } finally {
            await stale.cancel().catch(() => undefined);
            await (await fresh)?.cancel();
            client.close();
          }
        },
      },
      ctx.signal,
      ctx.progress,
    );
    const ms = {
      concord: median(result.concord.map((r) => r.ms)),
      etcd3: median(result.etcd3.map((r) => r.ms)),
    };
    return {
      params: { keys, rounds, concordPageSize: 5_000 },
      metrics: [
        { name: 'subscribe → full state', unit: 'ms', better: 'lower', primary: true, ...ms },
        {
          name: 'memory holding the state',
          unit: 'bytes',
          better: 'lower',
          concord: median(result.concord.map((r) => r.bytes)),
          etcd3: median(result.etcd3.map((r) => r.bytes)),
        },
      ],
      notes: [
        'Time from subscribing at a compacted revision to the complete state in user code (concord: the `resync` batch of `KeyValue`s with revisions; etcd3: the hand-written re-read into a Map of strings, before its new watcher is confirmed). concord reads the prefix in pages of 5,000 keys (its default) at one revision; the etcd3 code reads it in one request. Median of the rounds.',
      ],
    };
  },
};
