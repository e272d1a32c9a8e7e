import { EtcdLockFailedError } from 'etcd3';
import { alternate } from '../lib/alternate.js';
import { serverEventsSent } from '../lib/etcd.js';
import { countRpcs, describeRpcs, meanRpcs, type RpcCounts, unaryRpcs } from '../lib/rpcs.js';
import { median, summarize } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const CONTENDERS = 8;
const TTL = 10;
const HOLD_MS = 5;
// After releasing, a contender works elsewhere before it asks again, as real workers do; without
// this pause etcd3's releaser mostly re-takes its own lock at once, which is no handoff at all.
const THINK_MS = 20;
// etcd3's lock fails at once when the lock is held; this is the retry a user has to write.
const RETRY_FIRST_MS = 5;
const RETRY_MAX_MS = 100;

interface Round {
  handoffs: number[];
  /** Time from asking for the lock to getting it, per acquisition: what fairness bounds. */
  waits: number[];
  acquisitionsPerSec: number;
  /** concord: watch events etcd sent per release; etcd3: failed acquisition attempts per release. */
  wakeupsPerRelease: number;
}

/** One contender's way to take and give back the lock. */
interface Locker {
  acquire(): Promise<() => Promise<void>>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Times each operation is counted in the RPC census. */
const CENSUS_RUNS = 10;
/** How long the second contender waits in the queue before the census hands the lock over. */
const CENSUS_QUEUED_MS = 100;

/** RPCs per operation, counted one operation at a time after the timed rounds. */
interface Census {
  acquire: RpcCounts;
  release: RpcCounts;
  handoff: RpcCounts;
}

/**
 * Counts (not timed) the RPCs etcd receives for: taking a free lock, releasing it, and a handoff
 * (the holder releases → the contender queued behind it for a while holds), one at a time.
 */
async function census(ctx: BenchContext, [a, b]: [Locker, Locker]): Promise<Census> {
  const acquire: RpcCounts[] = [];
  const release: RpcCounts[] = [];
  const handoff: RpcCounts[] = [];
  for (let i = 0; i < CENSUS_RUNS; i++) {
    ctx.signal.throwIfAborted();
    let releaseA: (() => Promise<void>) | undefined;
    acquire.push(
      await countRpcs(ctx.cluster, async () => {
        releaseA = await a.acquire();
      }),
    );
    release.push(await countRpcs(ctx.cluster, () => releaseA!()));
    releaseA = await a.acquire();
    const next = b.acquire();
    await sleep(CENSUS_QUEUED_MS);
    let releaseB: (() => Promise<void>) | undefined;
    handoff.push(
      await countRpcs(ctx.cluster, async () => {
        await releaseA!();
        releaseB = await next;
      }),
    );
    await releaseB!();
  }
  return { acquire: meanRpcs(acquire), release: meanRpcs(release), handoff: meanRpcs(handoff) };
}

/**
 * `n` concord contenders for the lock `name`, each its own Concord with `mutex(name, { ttl })`,
 * handed to `use`; the Concords are closed afterwards.
 */
async function concordLockers<T>(
  ctx: BenchContext,
  name: string,
  n: number,
  use: (lockers: Locker[]) => Promise<T>,
): Promise<T> {
  const concords = Array.from({ length: n }, () => ctx.scope.concord());
  const mutexes = concords.map((c) => c.mutex(name, { ttl: TTL }));
  await Promise.all(concords.map((c) => c.etcd.get('bench/warm').string()));
  try {
    return await use(
      mutexes.map((mutex) => ({
        acquire: async () => {
          const handle = await mutex.lock({ signal: ctx.signal });
          return () => handle.release();
        },
      })),
    );
  } finally {
    await Promise.all(concords.map((c) => c.close()));
  }
}

/**
 * `n` etcd3 contenders for the lock `name`, each its own client, whose `acquire()` retries
 * etcd3's failing `lock(name).acquire()` with backoff (`failed` counts each failed attempt).
 */
async function etcd3Lockers<T>(
  ctx: BenchContext,
  name: string,
  n: number,
  failed: () => void,
  use: (lockers: Locker[]) => Promise<T>,
): Promise<T> {
  const clients = Array.from({ length: n }, () => ctx.scope.etcd3());
  await Promise.all(clients.map((c) => c.get('bench/warm').string()));
  try {
    return await use(
      clients.map((client) => ({
        acquire: async () => {
          let delay = RETRY_FIRST_MS;
          for (;;) {
            ctx.signal.throwIfAborted();
            const attempt = client.lock(name).ttl(TTL);
            try {
              await attempt.acquire();
              return () => attempt.release();
            } catch (err) {
              if (!(err instanceof EtcdLockFailedError)) throw err;
              failed();
              await sleep(delay * (0.5 + Math.random()));
              delay = Math.min(RETRY_MAX_MS, delay * 2);
            }
          }
        },
      })),
    );
  } finally {
    for (const client of clients) client.close();
  }
}

/**
 * Lock handoff with 8 contenders, each its own client (as 8 processes would be), each looping
 * lock → hold 5 ms → release → 20 ms elsewhere → lock again until the round's acquisitions are done. concord:
 * `concord.mutex(name).lock()` (fair queue, each waiter watches only its predecessor); etcd3:
 * `client.lock(name).acquire()`, which fails at once on a held lock, in a retry loop with
 * exponential backoff (5 ms doubling to 100 ms, with jitter).
 */
export const lock: Scenario = {
  id: 'lock',
  title: 'Lock handoff, 8 contenders',
  budgetMs: { quick: 40_000, full: 240_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const rounds = ctx.quick ? 2 : 6;
    const perRound = ctx.quick ? 40 : 100;
    let roundSeq = 0;

    const round = async (lockers: Locker[], countWakeups: () => Promise<number>): Promise<Round> => {
      const handoffs: number[] = [];
      const waits: number[] = [];
      let acquisitions = 0;
      let releases = 0;
      let releasedAt: number | undefined;
      let held = false;
      const wakeupsBefore = await countWakeups();
      const start = performance.now();
      const loop = async (locker: Locker) => {
        while (acquisitions < perRound) {
          ctx.signal.throwIfAborted();
          const asked = performance.now();
          const release = await locker.acquire();
          const now = performance.now();
          waits.push(now - asked);
          if (held) throw new Error('two contenders held the lock at once');
          held = true;
          if (releasedAt !== undefined) handoffs.push(now - releasedAt);
          acquisitions++;
          await sleep(HOLD_MS);
          held = false;
          releasedAt = performance.now();
          await release();
          releases++;
          await sleep(THINK_MS);
        }
      };
      await Promise.all(lockers.map(loop));
      const seconds = (performance.now() - start) / 1000;
      return {
        handoffs,
        waits,
        acquisitionsPerSec: acquisitions / seconds,
        wakeupsPerRelease: ((await countWakeups()) - wakeupsBefore) / releases,
      };
    };

    const result = await alternate<Round>(
      rounds,
      {
        concord: () =>
          concordLockers(ctx, `bench-lock-c${roundSeq++}`, CONTENDERS, (lockers) =>
            round(lockers, () => serverEventsSent(ctx.cluster)),
          ),
        etcd3: () => {
          let failedAttempts = 0;
          return etcd3Lockers(
            ctx,
            `bench-lock-e${roundSeq++}`,
            CONTENDERS,
            () => failedAttempts++,
            (lockers) => round(lockers, async () => failedAttempts),
          );
        },
      },
      ctx.signal,
      ctx.progress,
      { warmupRounds: 1 },
    );
    const rpcs = {
      concord: await concordLockers(ctx, 'bench-lock-rpcs-c', 2, ([a, b]) => census(ctx, [a!, b!])),
      etcd3: await etcd3Lockers(
        ctx,
        'bench-lock-rpcs-e',
        2,
        () => undefined,
        ([a, b]) => census(ctx, [a!, b!]),
      ),
    };
    const c = summarize(result.concord.flatMap((r) => r.handoffs));
    const e = summarize(result.etcd3.flatMap((r) => r.handoffs));
    const cw = summarize(result.concord.flatMap((r) => r.waits));
    const ew = summarize(result.etcd3.flatMap((r) => r.waits));
    const both = (f: (r: Round) => number) => ({
      concord: median(result.concord.map(f)),
      etcd3: median(result.etcd3.map(f)),
    });
    const rate = both((r) => r.acquisitionsPerSec);
    const wakeups = both((r) => r.wakeupsPerRelease);
    return {
      params: {
        contenders: CONTENDERS,
        acquisitions: c.n + result.concord.length,
        rounds,
        holdMs: HOLD_MS,
        thinkMs: THINK_MS,
        ttl: TTL,
      },
      metrics: [
        { name: 'handoff p50', unit: 'ms', better: 'lower', primary: true, concord: c.p50, etcd3: e.p50 },
        { name: 'handoff p99', unit: 'ms', better: 'lower', concord: c.p99, etcd3: e.p99 },
        { name: 'wait for the lock p99', unit: 'ms', better: 'lower', concord: cw.p99, etcd3: ew.p99 },
        { name: 'longest wait', unit: 'ms', better: 'lower', concord: cw.max, etcd3: ew.max },
        { name: 'acquisitions/s', unit: 'ops/s', better: 'higher', ...rate },
        { name: 'wake-ups per release', unit: 'count', better: 'lower', ...wakeups },
        ...(['acquire', 'release', 'handoff'] as const).map((op) => ({
          name: `unary RPCs per ${op === 'acquire' ? 'acquisition (free lock)' : op}`,
          unit: 'count',
          better: 'lower' as const,
          concord: unaryRpcs(rpcs.concord[op]),
          etcd3: unaryRpcs(rpcs.etcd3[op]),
        })),
      ],
      targets: [
        {
          goal: 'handoff faster than etcd3 lock-with-retry, one wake-up per release',
          actual: `p50 ${c.p50.toFixed(2)} ms vs ${e.p50.toFixed(2)} ms; ${wakeups.concord.toFixed(2)} watch events per release`,
          met: c.p50 < e.p50 && wakeups.concord <= 1.05,
        },
      ],
      notes: [
        `Handoff = holder calls release() → the next holder's lock()/acquire() resolves. Wait = lock()/acquire() called → resolved (fairness: with a FIFO queue nobody waits much longer than 7 holds). Each contender is its own client; it holds the lock ${HOLD_MS} ms and asks again ${THINK_MS} ms after releasing (8 × 5 ms of holds per ~25 ms cycle keeps waiters queued). Wake-ups per release: concord = watch events etcd sent to all watchers (etcd_debugging_mvcc_events_total) per release; etcd3 = failed acquire() attempts per release (each one a lease grant, a transaction and a revoke). Both sides grant a lease (TTL ${TTL} s) per acquisition: concord's default without a shared session. One warm-up round per side runs first and is not counted (V8 compiles the path).`,
        `RPCs per operation (etcd's own counters, grpc_server_handled_total by method for unary calls and grpc_server_msg_received_total for requests on the Watch and LeaseKeepAlive streams; ${CENSUS_RUNS} of each, one at a time, 2 contenders, not timed; a handoff counts from release() until the contender queued ${CENSUS_QUEUED_MS} ms behind it holds). concord: acquisition ${describeRpcs(rpcs.concord.acquire)}; release ${describeRpcs(rpcs.concord.release)}; handoff ${describeRpcs(rpcs.concord.handoff)}. etcd3: acquisition ${describeRpcs(rpcs.etcd3.acquire)}; release ${describeRpcs(rpcs.etcd3.release)}; handoff ${describeRpcs(rpcs.etcd3.handoff)}.`,
      ],
    };
  },
};
