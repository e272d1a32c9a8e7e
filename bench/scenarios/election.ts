import type { Leadership } from 'concord-etcd';
import type { Subscription } from 'rxjs';
import { alternate } from '../lib/alternate.js';
import { deferred, within } from '../lib/etcd.js';
import { countRpcs, describeRpcs, meanRpcs, type RpcCounts, unaryRpcs } from '../lib/rpcs.js';
import { summarize } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const TTL = 2;
/**
 * How long the next candidate has been queued when the leader resigns. etcd puts a watch that
 * starts at or below its current revision in an "unsynced" group served by a 100 ms loop, so a
 * wait younger than ~100 ms may see the delete late: FRESH shows that case (a leader resigning
 * right after a replacement joined, as in a rolling restart), SETTLED the steady state.
 */
const FRESH_MS = 25;
const SETTLED_MS = 250;

/** One candidate: campaign, and resign once elected. */
interface Candidate {
  /** Joins the election; `onElected` runs (synchronously, with the time) when it leads. */
  campaign(onElected: (at: number) => void): void;
  resign(): Promise<void>;
}

interface Round {
  fresh: number[];
  settled: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Times a handoff is counted in the RPC census. */
const CENSUS_RUNS = 10;

/**
 * Counts (not timed) the RPCs etcd receives per settled handoff: from the leader's resign() until
 * the candidate queued ${SETTLED_MS} ms behind it leads, one handoff at a time.
 */
async function census(ctx: BenchContext, [first, second]: Candidate[]): Promise<RpcCounts> {
  const samples: RpcCounts[] = [];
  let elected = deferred<Candidate>();
  const join = (c: Candidate) => c.campaign(() => elected.resolve(c));
  join(first!);
  let leader = await within('the first election', elected.promise, 10_000, ctx.signal);
  let waiting = second!;
  for (let i = 0; i < CENSUS_RUNS; i++) {
    elected = deferred();
    join(waiting);
    await sleep(SETTLED_MS);
    const resigning = leader;
    samples.push(
      await countRpcs(ctx.cluster, async () => {
        const resigned = resigning.resign();
        await within('the next leader', elected.promise, 10_000, ctx.signal);
        await resigned;
      }),
    );
    [leader, waiting] = [waiting, leader];
  }
  await leader.resign();
  return meanRpcs(samples);
}

/** Two concord candidates for `name`, each its own Concord with `election(name, { ttl })`, handed to `use`. */
async function concordCandidates<T>(
  ctx: BenchContext,
  name: string,
  use: (candidates: Candidate[]) => Promise<T>,
): Promise<T> {
  const concords = Array.from({ length: 2 }, () => ctx.scope.concord());
  await Promise.all(concords.map((c) => c.etcd.get('bench/warm').string()));
  try {
    return await use(
      concords.map((concord, i) => {
        const election = concord.election(name, { ttl: TTL });
        let sub: Subscription | undefined;
        let leadership: Leadership | undefined;
        return {
          campaign: (onElected) => {
            sub = election.campaign(`candidate-${i}`).subscribe({
              next: (l) => {
                leadership = l;
                onElected(performance.now());
              },
              error: (err: unknown) => ctx.progress(`campaign failed: ${String(err)}`),
            });
          },
          resign: async () => {
            await leadership!.resign();
            sub?.unsubscribe();
          },
        };
      }),
    );
  } finally {
    await Promise.all(concords.map((c) => c.close()));
  }
}

/** Two etcd3 candidates for `name`, each its own client with `election(name, ttl)`, handed to `use`. */
async function etcd3Candidates<T>(
  ctx: BenchContext,
  name: string,
  use: (candidates: Candidate[]) => Promise<T>,
): Promise<T> {
  const clients = Array.from({ length: 2 }, () => ctx.scope.etcd3());
  await Promise.all(clients.map((c) => c.get('bench/warm').string()));
  try {
    return await use(
      clients.map((client, i) => {
        const election = client.election(name, TTL);
        let campaign: ReturnType<typeof election.campaign> | undefined;
        return {
          campaign: (onElected) => {
            campaign = election.campaign(`candidate-${i}`);
            campaign.on('elected', () => onElected(performance.now()));
            campaign.on('error', (err: Error) => ctx.progress(`etcd3 campaign failed: ${err.message}`));
          },
          resign: () => campaign!.resign(),
        };
      }),
    );
  } finally {
    for (const client of clients) client.close();
  }
}

/**
 * Graceful leader handoff: 2 candidates, each its own client, TTL 2 s. The leader resigns; the
 * handoff is the time from its resign() call to the other candidate learning it leads. The
 * resigned candidate then campaigns again at the back of the queue. concord:
 * `election.campaign(value)` and `leadership.resign()`; etcd3: `client.election(name,
 * ttl).campaign(value)` (its 'elected' event) and `campaign.resign()`.
 */
export const electionHandoff: Scenario = {
  id: 'election-handoff',
  title: 'Election: graceful handoff',
  budgetMs: { quick: 30_000, full: 120_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const rounds = ctx.quick ? 2 : 6;
    const perRound = ctx.quick ? 5 : 10;
    let nameSeq = 0;

    // Two candidates take turns: the leader resigns `queuedMs` after the other joined, the
    // other takes over, and the one that resigned joins again.
    const handoffs = async (candidates: Candidate[], queuedMs: number, count: number): Promise<number[]> => {
      const samples: number[] = [];
      let elected = deferred<{ who: Candidate; at: number }>();
      const join = (c: Candidate) => c.campaign((at) => elected.resolve({ who: c, at }));
      join(candidates[0]!);
      let leader = (await within('the first election', elected.promise, 10_000, ctx.signal)).who;
      let waiting = candidates[1]!;
      for (let i = 0; i < count; i++) {
        elected = deferred();
        join(waiting);
        await sleep(queuedMs);
        ctx.signal.throwIfAborted();
        const start = performance.now();
        const resigned = leader.resign();
        const next = await within('the next leader', elected.promise, 10_000, ctx.signal);
        if (next.who !== waiting) throw new Error('the resigned leader was elected again');
        samples.push(next.at - start);
        await resigned;
        waiting = leader;
        leader = next.who;
      }
      await leader.resign();
      return samples;
    };
    const round = async (candidates: Candidate[]): Promise<Round> => ({
      fresh: await handoffs(candidates, FRESH_MS, perRound),
      settled: await handoffs(candidates, SETTLED_MS, perRound),
    });

    const result = await alternate<Round>(
      rounds,
      {
        concord: () => concordCandidates(ctx, `bench-handoff-c${nameSeq++}`, round),
        etcd3: () => etcd3Candidates(ctx, `bench-handoff-e${nameSeq++}`, round),
      },
      ctx.signal,
      ctx.progress,
    );
    const rpcs = {
      concord: await concordCandidates(ctx, 'bench-handoff-rpcs-c', (c) => census(ctx, c)),
      etcd3: await etcd3Candidates(ctx, 'bench-handoff-rpcs-e', (c) => census(ctx, c)),
    };
    const cf = summarize(result.concord.flatMap((r) => r.fresh));
    const ef = summarize(result.etcd3.flatMap((r) => r.fresh));
    const cs = summarize(result.concord.flatMap((r) => r.settled));
    const es = summarize(result.etcd3.flatMap((r) => r.settled));
    const target = (label: string, c: typeof cf, e: typeof ef) => {
      const ratio = e.p50 / c.p50;
      return {
        goal: `${label}: handoff p50 < 5 ms and ≥ 10× faster than etcd3 Election`,
        actual: `${c.p50.toFixed(2)} ms vs ${e.p50.toFixed(2)} ms (${ratio.toFixed(1)}×)`,
        met: c.p50 < 5 && ratio >= 10,
      };
    };
    return {
      params: {
        candidates: 2,
        ttl: TTL,
        handoffsPerCondition: cf.n,
        rounds,
        freshMs: FRESH_MS,
        settledMs: SETTLED_MS,
      },
      metrics: [
        {
          name: `handoff p50, successor queued ${FRESH_MS} ms`,
          unit: 'ms',
          better: 'lower',
          primary: true,
          concord: cf.p50,
          etcd3: ef.p50,
        },
        {
          name: `handoff p99, successor queued ${FRESH_MS} ms`,
          unit: 'ms',
          better: 'lower',
          concord: cf.p99,
          etcd3: ef.p99,
        },
        {
          name: `handoff p50, successor queued ${SETTLED_MS} ms`,
          unit: 'ms',
          better: 'lower',
          primary: true,
          concord: cs.p50,
          etcd3: es.p50,
        },
        {
          name: `handoff p99, successor queued ${SETTLED_MS} ms`,
          unit: 'ms',
          better: 'lower',
          concord: cs.p99,
          etcd3: es.p99,
        },
        {
          name: `unary RPCs per handoff, successor queued ${SETTLED_MS} ms`,
          unit: 'count',
          better: 'lower',
          concord: unaryRpcs(rpcs.concord),
          etcd3: unaryRpcs(rpcs.etcd3),
        },
      ],
      targets: [
        target(`successor queued ${FRESH_MS} ms`, cf, ef),
        target(`successor queued ${SETTLED_MS} ms`, cs, es),
      ],
      notes: [
        `Handoff = leader calls resign() → the successor's Leadership emission (concord) or 'elected' event (etcd3). Two candidates, each its own client, take turns; the leader resigns ${FRESH_MS} ms or ${SETTLED_MS} ms after its successor started campaigning. etcd3's Campaign watches its predecessor from the revision it read it at, which etcd always serves through its 100 ms unsynced-watcher loop until the watch catches up, and then reads the queue again; concord's successor watches "from now" (a read covers a write that landed in between) and, being next in line, watches the prefix for deletes, so the delete event alone proves it leads: the chain is the resign's revoke and one watch event, with no re-check.`,
        `RPCs per settled handoff (etcd's own counters, grpc_server_handled_total by method for unary calls and grpc_server_msg_received_total for requests on the Watch and LeaseKeepAlive streams; ${CENSUS_RUNS} handoffs one at a time, from resign() until the successor queued ${SETTLED_MS} ms leads, not timed): concord ${describeRpcs(rpcs.concord)}; etcd3 ${describeRpcs(rpcs.etcd3)}.`,
      ],
    };
  },
};
