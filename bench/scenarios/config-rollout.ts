import { alternate } from '../lib/alternate.js';
import { PlainConfig } from '../lib/config-baseline.js';
import { deferred, within } from '../lib/etcd.js';
import { summarize } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const INSTANCES = 20;
const PAUSE_MS = 20;
const TTL = 10;

/**
 * One side of a round: the instances are up; `push(i)` writes change i, resolves once all
 * acknowledged it, and answers when etcd confirmed the write (performance.now()).
 */
interface Side {
  push(i: number): Promise<number>;
}

/** One change: write → all acknowledged, and etcd's answer to the write → all acknowledged (ms). */
interface Sample {
  total: number;
  acks: number;
}

/** What a round opened, closed at its end (newest first) so rounds do not pile up clients. */
type Closers = Array<() => unknown>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Rollout of one change to 20 instances: write → every instance acknowledged applying it. Each
 * instance is its own client in the bench process. concord: `concord.config(prefix, { instance })`
 * with a `value$` subscriber per instance; the writer calls `set()` then `rolledOut(revision, {
 * instances: 20 })`. etcd3: what a plain etcd3 user would write for the same job: each instance
 * follows the prefix (read, watch, rebuild the object) and, after each change, puts an ack key
 * `<revision>` under a lease it holds; the writer puts the key and counts acks at or after the
 * put's revision through a watcher on the ack prefix that it keeps open.
 */
export const configRollout: Scenario = {
  id: 'config-rollout',
  title: 'Config rollout → 20 instances',
  budgetMs: { quick: 60_000, full: 240_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const rounds = ctx.quick ? 2 : 4;
    const perRound = ctx.quick ? 10 : 40;
    let seq = 0;

    const round = async (make: (prefix: string, closers: Closers) => Promise<Side>): Promise<Sample[]> => {
      const prefix = `bench/rollout/${seq++}/`;
      const closers: Closers = [];
      try {
        const side = await make(prefix, closers);
        const samples: Sample[] = [];
        for (let i = 1; i <= perRound; i++) {
          await sleep(PAUSE_MS);
          ctx.signal.throwIfAborted();
          const start = performance.now();
          const written = await side.push(i);
          const end = performance.now();
          samples.push({ total: end - start, acks: end - written });
        }
        return samples;
      } finally {
        for (const close of closers.reverse()) await close();
      }
    };

    const result = await alternate<Sample[]>(
      rounds,
      {
        concord: () =>
          round(async (prefix, closers) => {
            for (let n = 0; n < INSTANCES; n++) {
              const concord = ctx.scope.concord();
              closers.push(() => concord.close());
              concord.config(prefix, { instance: `i${n}`, ttl: TTL }).value$.subscribe();
            }
            const concord = ctx.scope.concord();
            closers.push(() => concord.close());
            const writer = concord.config(prefix);
            const { revision } = await writer.set('features/rollout', 0);
            await writer.rolledOut(revision, { instances: INSTANCES, signal: ctx.signal });
            return {
              push: async (i) => {
                const { revision: pushed } = await writer.set('features/rollout', i);
                const written = performance.now();
                await writer.rolledOut(pushed, { instances: INSTANCES, signal: ctx.signal });
                return written;
              },
            };
          }),
        etcd3: () =>
          round(async (prefix, closers) => {
            const acks = `bench/rollout-acks/${prefix}`;
            for (let n = 0; n < INSTANCES; n++) await ackingInstance(ctx, closers, prefix, `${acks}i${n}`);
            return ackCounter(ctx, closers, prefix, acks);
          }),
      },
      ctx.signal,
      ctx.progress,
    );
    const c = summarize(result.concord.flat().map((s) => s.total));
    const e = summarize(result.etcd3.flat().map((s) => s.total));
    const ca = summarize(result.concord.flat().map((s) => s.acks));
    const ea = summarize(result.etcd3.flat().map((s) => s.acks));
    return {
      params: { instances: INSTANCES, changes: c.n, rounds },
      metrics: [
        {
          name: 'write → all acknowledged, p50',
          unit: 'ms',
          better: 'lower',
          primary: true,
          concord: c.p50,
          etcd3: e.p50,
        },
        { name: 'write → all acknowledged, p99', unit: 'ms', better: 'lower', concord: c.p99, etcd3: e.p99 },
        {
          name: 'write stored → all acknowledged, p50',
          unit: 'ms',
          better: 'lower',
          concord: ca.p50,
          etcd3: ea.p50,
        },
      ],
      notes: [
        `${INSTANCES} instances, each its own client in the bench process, follow a config prefix; each sample writes one key and ends when every instance has acknowledged applying that revision. concord: \`set()\` (which reads the prefix to validate the write first) then \`rolledOut(revision, { instances: ${INSTANCES} })\` (the writer's config keeps following the status area after its first call); each instance reports under a session lease in the status area. etcd3: hand-written acks (each instance puts \`<revision>\` under its lease after rebuilding its object) counted by a watcher the writer keeps open. "Write stored → all acknowledged" starts when the write's answer arrives, leaving out concord's validation read.`,
      ],
    };
  },
};

/** A plain etcd3 instance: follows `prefix` and acknowledges every revision it applied at `ackKey`, under its lease. */
async function ackingInstance(
  ctx: BenchContext,
  closers: Closers,
  prefix: string,
  ackKey: string,
): Promise<void> {
  const client = ctx.scope.etcd3();
  closers.push(() => client.close());
  const lease = client.lease(TTL, { autoKeepAlive: true });
  closers.push(() => lease.revoke().catch(() => undefined));
  await lease.grant();
  const follower = new PlainConfig(client, prefix, (_value, revision) => {
    void lease.put(ackKey).value(String(revision)).exec();
  });
  await follower.start();
  closers.push(() => follower.stop());
}

/** The plain etcd3 writer: puts the key, then waits until every ack under `acks` is at or after the put's revision. */
async function ackCounter(ctx: BenchContext, closers: Closers, prefix: string, acks: string): Promise<Side> {
  const writer = ctx.scope.etcd3();
  closers.push(() => writer.close());
  const seen = new Map<string, bigint>();
  let waiting: { revision: bigint; done: () => void } | undefined;
  const check = () => {
    if (!waiting) return;
    let count = 0;
    for (const revision of seen.values()) if (revision >= waiting.revision) count++;
    if (count >= INSTANCES) waiting.done();
  };
  const watcher = await writer.watch().prefix(acks).create();
  closers.push(() => watcher.cancel());
  watcher.on('put', (kv) => {
    seen.set(kv.key.toString(), BigInt(kv.value.toString()));
    check();
  });
  const push = async (value: number) => {
    const all = deferred();
    const res = await writer.put(`${prefix}features/rollout`).value(String(value));
    const written = performance.now();
    waiting = { revision: BigInt(res.header.revision), done: () => all.resolve() };
    check();
    await within('every instance to acknowledge', all.promise, 10_000, ctx.signal);
    waiting = undefined;
    return written;
  };
  await push(0);
  return { push };
}
