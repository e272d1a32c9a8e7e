// The soak: every primitive under churn for a while against a real etcd, with the figures that
// must not grow (heap after GC, active handles, etcd's server-side watchers, leases, keys)
// sampled while the churn is paused, a table of them printed, and a verdict.
//
//   npm run soak                      10 minutes
//   npm run soak -- --minutes 2       what CI runs
//   options: --minutes M  --sample-seconds S  --warmup-seconds W
//
// Runs with `node --expose-gc` (the npm script passes it) and ETCD_BIN like the tests. Exits 1
// when a figure grew beyond its tolerance (stats.ts), when a workload failed, or when the run
// was too short to judge.
import { parseArgs } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { Concord } from '../../src/concord.js';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { sleep } from '../support/wait.js';
import { type Figure, judge, type Sample, TOLERANCES } from './stats.js';
import { type SoakContext, WORKLOADS, type Workload } from './workloads.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'sample-seconds': { type: 'string' },
    'warmup-seconds': { type: 'string' },
  },
});
const minutes = Number(args.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number (got ${args.minutes})`);
const totalSeconds = minutes * 60;
// About 40 samples a run, never more often than every 5 s.
const sampleSeconds = Number(args['sample-seconds'] ?? Math.max(5, Math.round(totalSeconds / 40)));
// A fifth of the run (at least 30 s): lazily created singletons, JIT and caches settle first.
const warmupSeconds = Number(args['warmup-seconds'] ?? Math.max(30, Math.round(totalSeconds / 5)));

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run the soak with node --expose-gc (npm run soak does)');

/** Pauses every worker between two iterations, so samples see only what outlives an iteration. */
class Gate {
  #paused: Promise<void> | undefined;
  #resume: (() => void) | undefined;
  #parked = 0;
  stopped = false;
  /** Workers inside an iteration, by name, with when it started: named when a pause waits long. */
  readonly busy = new Map<string, number>();

  async pass(): Promise<void> {
    while (this.#paused) {
      this.#parked++;
      await this.#paused;
      this.#parked--;
    }
  }

  /** Pauses and resolves once `workers` are parked. */
  async pause(workers: number): Promise<void> {
    this.#paused = new Promise((resolve) => (this.#resume = resolve));
    const since = Date.now();
    let warned = false;
    while (this.#parked < workers) {
      await sleep(20);
      if (!warned && Date.now() - since > 30_000) {
        warned = true;
        const now = Date.now();
        console.log(`pause waits for: ${[...this.busy].map(([w, t]) => `${w} (${now - t} ms)`).join(', ')}`);
      }
    }
  }

  resume(): void {
    this.#paused = undefined;
    this.#resume?.();
  }
}

interface Counters {
  iterations: Record<string, number>;
  failures: string[];
}

async function worker(
  ctx: SoakContext,
  gate: Gate,
  w: Workload,
  copy: number,
  counters: Counters,
): Promise<void> {
  for (let round = 0; !gate.stopped; round++) {
    // Some iterations settle on microtasks alone (a cached view, a ready picker): without a pause
    // the loop would never give timers and sockets a turn. It also paces the churn.
    await sleep(5);
    await gate.pass();
    if (gate.stopped) return;
    const id = `${w.name}#${copy}`;
    gate.busy.set(id, Date.now());
    try {
      await w.iteration(ctx, copy, round);
      counters.iterations[w.name] = (counters.iterations[w.name] ?? 0) + 1;
    } catch (err) {
      counters.failures.push(`${id}: ${err instanceof Error ? err.message : String(err)}`);
      await sleep(200);
    } finally {
      gate.busy.delete(id);
    }
  }
}

async function figures(cluster: EtcdCluster, admin: Etcd3): Promise<Record<Figure, number>> {
  gc!();
  await sleep(50);
  gc!();
  const resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  const [watchers, leases, keys] = await Promise.all([
    cluster.members[0]!.metric('etcd_debugging_mvcc_watcher_total'),
    admin.leaseClient.leaseLeases({}).then((r) => r.leases.length),
    admin.getAll().count(),
  ]);
  return {
    heapMB: process.memoryUsage().heapUsed / 2 ** 20,
    handles: resources.length,
    watchers,
    leases,
    keys,
  };
}

function row(cells: Array<string | number>, widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
}

async function main(): Promise<number> {
  const cluster = await startCluster();
  const admin = cluster.client();
  const concord = new Concord({ endpoints: cluster.endpoints });
  const ctx: SoakContext = { concord, admin };
  const gate = new Gate();
  const counters: Counters = { iterations: {}, failures: [] };
  const samples: Sample[] = [];
  const started = Date.now();
  const widths = [6, 8, 8, 9, 7, 6, 10, 12];
  console.log(
    `soak: ${minutes} min, a sample every ${sampleSeconds} s, warm-up ${warmupSeconds} s, etcd ${(await admin.maintenance.status()).version}, node ${process.version}`,
  );
  console.log(
    row(['t s', 'heap MB', 'handles', 'watchers', 'leases', 'keys', 'upstreams', 'iterations'], widths),
  );
  try {
    for (const w of WORKLOADS) await w.setup?.(ctx);
    const workers = WORKLOADS.flatMap((w) =>
      Array.from({ length: w.copies }, (_, copy) => worker(ctx, gate, w, copy, counters)),
    );
    while ((Date.now() - started) / 1000 < totalSeconds) {
      await sleep(sampleSeconds * 1000);
      await gate.pause(workers.length);
      // Let releases finish on etcd's side (cancelled watchers, revoked leases) before reading.
      await sleep(1_000);
      // Compacting exercises the hub's re-reads and keeps etcd's history bounded.
      await cluster.compact();
      const at = Math.round((Date.now() - started) / 1000);
      const sample: Sample = { at, figures: await figures(cluster, admin) };
      samples.push(sample);
      const iterations = Object.values(counters.iterations).reduce((a, b) => a + b, 0);
      const f = sample.figures;
      console.log(
        row(
          [
            at,
            f.heapMB.toFixed(1),
            f.handles,
            f.watchers,
            f.leases,
            f.keys,
            concord.watchStats().upstreamWatches,
            iterations,
          ],
          widths,
        ),
      );
      gate.resume();
    }
    gate.stopped = true;
    gate.resume();
    await Promise.all(workers);
    for (const w of WORKLOADS) await w.teardown?.(ctx);
  } finally {
    gate.stopped = true;
    gate.resume();
    await concord.close();
    await cluster.stop();
  }
  return report(samples, counters);
}

function report(samples: Sample[], counters: Counters): number {
  console.log(
    `\niterations: ${Object.entries(counters.iterations)
      .map(([n, c]) => `${n} ${c}`)
      .join(', ')}`,
  );
  const verdicts = judge(samples, warmupSeconds);
  console.log(
    '\nafter warm-up: median of the first third -> median of the last third (allowed growth), slope',
  );
  for (const v of verdicts) {
    const t = TOLERANCES[v.figure];
    console.log(
      `  ${v.figure.padEnd(8)} ${v.first.toFixed(1)} -> ${v.last.toFixed(1)} (+${v.growth.toFixed(1)}, allowed +${v.allowed.toFixed(1)}: max(${t.absolute}, ${t.relative * 100}%))` +
        `  slope ${v.slopePerMinute.toFixed(3)}/min  ${v.ok ? 'ok' : 'GROWS'}`,
    );
  }
  if (counters.failures.length > 0) {
    console.log(`\n${counters.failures.length} failed iterations:`);
    for (const f of counters.failures.slice(0, 20)) console.log(`  ${f}`);
  }
  const ok = verdicts.every((v) => v.ok) && counters.failures.length === 0;
  console.log(ok ? '\nsoak: ok' : '\nsoak: FAILED');
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
