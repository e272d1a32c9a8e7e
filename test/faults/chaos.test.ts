// The seeded fault-injection suite. A 3-member etcd cluster, several client processes running
// every concord workload at once (see chaos/worker.ts), and a schedule of faults drawn from one
// seed: members SIGKILLed and restarted (the raft leader too), client connections cut or
// blackholed through proxies, client processes paused past their session TTL, compactions.
// Then the promises are checked (see chaos/checks.ts).
//
//   FAULTS_SECONDS=300 npm run test:faults   run the faults longer (default 60 s)
//   FAULTS_SEED=1234 npm run test:faults     replay a run: same faults, same offsets, same targets
//   FAULTS_WORKERS=4                         more client processes (default 3)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord, type LockHandle } from 'concord-etcd';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { sleep } from '../support/wait.js';
import {
  type CounterReport,
  checkCounter,
  checkExclusion,
  checkFencing,
  compareView,
  expectedConfig,
  expectedInstances,
  type FencedReport,
  type GuardedReport,
} from './chaos/checks.js';
import { askAll, eventsOf, startClients, stopClients } from './chaos/clients.js';
import { type ChaosClient, FaultInjector } from './chaos/faults.js';
import {
  CONFIG_PREFIX,
  COUNTER_LOCK,
  ELECTION,
  RWLOCK,
  SCOPED,
  SEMAPHORE,
  SEMAPHORE_PERMITS,
  SERVICE,
  SERVICE_PREFIX,
} from './chaos/protocol.js';
import { chooseSeed } from './chaos/random.js';
import { describeFault, makeSchedule } from './chaos/schedule.js';
import { readCounter, readFenced, readGuarded, readPrefix } from './chaos/store.js';

const SECONDS = Number(process.env.FAULTS_SECONDS ?? 60);
const WORKERS = Number(process.env.FAULTS_WORKERS ?? 3);
const SEED = chooseSeed(process.env.FAULTS_SEED);
const TTL_SECONDS = 5;
// After the faults stop: a leader must exist within TTL + 1 s (the promise under test).
const LEADER_DEADLINE_MS = (TTL_SECONDS + 1) * 1000;
// The counter lock must be obtainable within TTL + 1 s, plus its fair queue (the workers still
// contend for it) on a machine whose 2 cores are shared.
const LOCK_DEADLINE_MS = LEADER_DEADLINE_MS + 5_000;
// Consumers must converge on a linearizable read this soon after the writers stop.
const CONVERGE_MS = 20_000;

test(`chaos: ${SECONDS}s of seeded faults over 3 members and ${WORKERS} client processes (FAULTS_SEED=${SEED})`, {
  timeout: SECONDS * 1000 + 300_000,
}, async () => {
  const schedule = makeSchedule({
    seed: SEED,
    durationMs: SECONDS * 1000,
    members: 3,
    workers: WORKERS,
    ttlSeconds: TTL_SECONDS,
  });
  // Printed up front too, so the schedule is known even if the run is killed by a timeout.
  console.log(
    `chaos: FAULTS_SEED=${SEED} FAULTS_SECONDS=${SECONDS} FAULTS_WORKERS=${WORKERS}: ${schedule.length} faults scheduled\n` +
      schedule.map((s) => `  ${describeFault(s)}`).join('\n'),
  );
  const problems: string[] = [];
  const measured: Record<string, number | string> = {};
  let cluster: EtcdCluster | undefined;
  let clients: ChaosClient[] = [];
  let injector: FaultInjector | undefined;
  try {
    cluster = await startCluster({ size: 3, progressNotifyInterval: '1s' });
    clients = await startClients(cluster, WORKERS, { seed: SEED, ttlSeconds: TTL_SECONDS });
    injector = new FaultInjector(cluster, clients);

    await injector.run(schedule);
    await injector.healAll();
    const healedAt = Date.now();

    // Liveness after the faults: a leader within TTL + 1 s, the counter lock obtainable.
    const observer = new Concord({ endpoints: cluster.endpoints });
    try {
      const locks = {
        mutex: (signal: AbortSignal) => observer.mutex(COUNTER_LOCK, { ttl: TTL_SECONDS }).lock({ signal }),
        semaphore: (signal: AbortSignal) =>
          observer.semaphore(SEMAPHORE, { permits: SEMAPHORE_PERMITS, ttl: TTL_SECONDS }).acquire({ signal }),
        'rwlock write side': (signal: AbortSignal) =>
          observer.rwlock(RWLOCK, { ttl: TTL_SECONDS }).write({ signal }),
      };
      const [leaderMs, ...lockMs] = await Promise.all([
        timeToLeader(observer, clients, healedAt),
        ...Object.values(locks).map((acquire) => timeToLock(acquire, healedAt)),
      ]);
      measured.leaderAfterHealMs = leaderMs ?? 'none';
      if (leaderMs === undefined)
        problems.push(`no confirmed leader within ${LEADER_DEADLINE_MS} ms of the faults stopping`);
      Object.keys(locks).forEach((name, i) => {
        measured[`${name} obtained after heal (ms)`] = lockMs[i] ?? 'none';
        if (lockMs[i] === undefined)
          problems.push(
            `the ${name} was not obtainable within ${LOCK_DEADLINE_MS} ms of the faults stopping`,
          );
      });
    } finally {
      await observer.close();
    }

    // Stop the workloads (locks released, leaders resigned, writers quiet); consumers keep following.
    await askAll(clients, { cmd: 'stop' }, 'stopped', 60_000);
    const client = cluster.client();
    const converged = await convergence(clients, async () => ({
      instances: expectedInstances(
        await readPrefix(client, `${SERVICE_PREFIX}${SERVICE}/`),
        `${SERVICE_PREFIX}${SERVICE}/`,
      ),
      config: expectedConfig(await readPrefix(client, CONFIG_PREFIX), CONFIG_PREFIX),
    }));
    measured.convergedAfterStopMs = converged.ms ?? 'never';
    measured.workerStats = JSON.stringify(converged.stats);
    measured.leaders = eventsOf(clients, 'elected')
      .map((e) => `${e.worker}@${e.term}`)
      .join(' ');
    measured.depositions = eventsOf(clients, 'deposed')
      .map((e) => `${e.worker}@${e.term}: ${e.reason}`)
      .join(' | ');
    problems.push(...converged.problems);

    // Safety: the guarded counter and the fenced leader writes.
    const counterReports = eventsOf(clients, 'counter') as CounterReport[];
    problems.push(...checkCounter(counterReports, await readCounter(client)));
    const fencedReports = eventsOf(clients, 'fenced') as FencedReport[];
    const elected = new Map(eventsOf(clients, 'elected').map((e) => [e.term, e.worker]));
    problems.push(...checkFencing(fencedReports, elected, await readFenced(client)));
    // Leader work scoped with whileLeader: the same fencing promise, counted as overlaps.
    const scopedReports = eventsOf(clients, 'scoped') as FencedReport[];
    const scopedElected = new Map(eventsOf(clients, 'scoped-elected').map((e) => [e.term, e.worker]));
    const scopedProblems = checkFencing(
      scopedReports,
      scopedElected,
      await readFenced(client, SCOPED),
      'scoped',
    );
    measured.scopedTerms = scopedElected.size;
    measured.scopedWritesCommitted = scopedReports.filter((r) => r.result === 'committed').length;
    measured.scopedOverlaps = scopedProblems.filter((p) => p.includes('terms overlap')).length;
    problems.push(...scopedProblems);
    const guardedReports = eventsOf(clients, 'guarded') as GuardedReport[];
    problems.push(...checkExclusion(guardedReports, await readGuarded(client), SEMAPHORE_PERMITS));
    for (const e of eventsOf(clients, 'stream-error'))
      problems.push(`${e.worker}: ${e.stream} failed: ${e.error}`);

    // Cleanup: after close(), no lease and no server-side watcher is left behind. First make
    // sure the probe sees the ones that exist now, or an empty answer would prove nothing.
    const open = await serverResources(cluster);
    measured.beforeClose = `${open.leases} leases, ${open.watchers} watchers, ${open.streams} watch streams`;
    if (open.leases === 0 || open.watchers === 0 || open.streams === 0) {
      problems.push(
        `the leak probe sees nothing before close() (${measured.beforeClose}): it cannot prove anything`,
      );
    }
    await askAll(clients, { cmd: 'close' }, 'closed', 60_000);
    const leftovers = await leftoversAfterClose(cluster);
    measured.cleanAfterCloseMs = leftovers.ms ?? 'never';
    problems.push(...leftovers.problems);

    Object.assign(measured, tally(clients, counterReports, fencedReports, guardedReports, elected.size), {
      faults: JSON.stringify(injector.injected),
    });
    console.log(
      `chaos: FAULTS_SEED=${SEED} results ${JSON.stringify(measured)}\n${injector.journal.map((l) => `  ${l}`).join('\n')}`,
    );
  } catch (err) {
    problems.push(
      `the run itself failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  } finally {
    await stopClients(clients);
    await cluster?.stop();
  }
  assert.deepEqual(
    problems,
    [],
    [
      `chaos run failed. Reproduce with FAULTS_SEED=${SEED} FAULTS_SECONDS=${SECONDS} FAULTS_WORKERS=${WORKERS}`,
      `measured: ${JSON.stringify(measured)}`,
      'fault schedule:',
      ...schedule.map((s) => `  ${describeFault(s)}`),
      'what happened:',
      ...(injector?.journal ?? []).map((line) => `  ${line}`),
      'problems:',
      ...problems.slice(0, 50).map((p) => `  ${p}`),
      ...(problems.length > 50 ? [`  ... and ${problems.length - 50} more`] : []),
      'worker stderr (tail):',
      ...clients.map((c) => `  ${c.id}: ${c.worker.stderr().slice(-1500).replaceAll('\n', '\n    ')}`),
    ].join('\n'),
  );
});

/**
 * Ms from `since` until etcd's first candidate for the election is a worker that confirms
 * leading with that very term, or undefined if that does not happen within the deadline.
 */
async function timeToLeader(
  observer: Concord,
  clients: readonly ChaosClient[],
  since: number,
): Promise<number | undefined> {
  const election = observer.election(ELECTION);
  while (Date.now() - since <= LEADER_DEADLINE_MS) {
    const leader = await election.leader().catch(() => undefined);
    if (leader) {
      const term = leader.term.toString();
      const confirmed = eventsOf(clients, 'elected').some(
        (e) => e.worker === leader.value && e.term === term,
      );
      const deposed = eventsOf(clients, 'deposed').some((e) => e.worker === leader.value && e.term === term);
      if (confirmed && !deposed) return Date.now() - since;
    }
    await sleep(50);
  }
  return undefined;
}

/** Ms from `since` until `acquire` held the lock (then released it), or undefined. */
async function timeToLock(
  acquire: (signal: AbortSignal) => Promise<LockHandle>,
  since: number,
): Promise<number | undefined> {
  const signal = AbortSignal.timeout(Math.max(1, since + LOCK_DEADLINE_MS - Date.now()));
  try {
    const handle = await acquire(signal);
    const ms = Date.now() - since;
    await handle.release();
    return ms;
  } catch {
    return undefined;
  }
}

/**
 * Asks every consumer what it shows until all of them equal a linearizable read made right after
 * their answers; resolves with how long that took, or the last differences after the deadline.
 */
async function convergence(
  clients: readonly ChaosClient[],
  read: () => Promise<{ instances: unknown; config: unknown }>,
): Promise<{ ms: number | undefined; problems: string[]; stats: Record<string, unknown> }> {
  const started = Date.now();
  let problems: string[] = [];
  const stats: Record<string, unknown> = {};
  while (Date.now() - started <= CONVERGE_MS) {
    const reports = await askAll(clients, { cmd: 'report' }, 'report', 30_000);
    const expected = await read();
    for (const r of reports) stats[String(r.worker)] = r.stats;
    problems = reports.flatMap((r) => [
      ...compareView(
        `${String(r.worker)} discovery.instances$('${SERVICE}')`,
        r.instances,
        expected.instances,
      ),
      ...compareView(`${String(r.worker)} config('${CONFIG_PREFIX}').value$`, r.config, expected.config),
    ]);
    if (problems.length === 0) return { ms: Date.now() - started, problems, stats };
    await sleep(250);
  }
  return { ms: undefined, problems, stats };
}

/**
 * Waits (up to TTL + 2 s: a session lost during a fault may only be revoked by expiry) until
 * etcd holds no lease and no member has a watcher or watch stream; reports what is left otherwise.
 */
async function leftoversAfterClose(
  cluster: EtcdCluster,
): Promise<{ ms: number | undefined; problems: string[] }> {
  const started = Date.now();
  let left: string[] = [];
  while (Date.now() - started <= (TTL_SECONDS + 2) * 1000) {
    const found = await serverResources(cluster);
    left = [
      ...(found.leases > 0
        ? [`${found.leases} lease(s) left after close(): ${found.leaseIds.join(', ')}`]
        : []),
      ...found.perMember
        .filter((w) => w.watchers > 0 || w.streams > 0)
        .map((w) => `${w.member} still has ${w.watchers} watcher(s) on ${w.streams} stream(s) after close()`),
    ];
    if (left.length === 0) return { ms: Date.now() - started, problems: [] };
    await sleep(200);
  }
  return { ms: undefined, problems: left };
}

/** Leases etcd holds, and server-side watchers and watch streams summed over the members. */
async function serverResources(cluster: EtcdCluster) {
  const { leases } = await cluster.client().leaseClient.leaseLeases();
  const perMember = await Promise.all(
    cluster.members.map(async (m) => ({
      member: m.name,
      watchers: await m.metric('etcd_debugging_mvcc_watcher_total'),
      streams: await m.metric('etcd_debugging_mvcc_watch_stream_total'),
    })),
  );
  return {
    leases: leases.length,
    leaseIds: leases.map((l) => l.ID),
    watchers: perMember.reduce((sum, m) => sum + m.watchers, 0),
    streams: perMember.reduce((sum, m) => sum + m.streams, 0),
    perMember,
  };
}

function tally(
  clients: readonly ChaosClient[],
  counter: readonly CounterReport[],
  fenced: readonly FencedReport[],
  guarded: readonly GuardedReport[],
  terms: number,
): Record<string, number> {
  const by = (reports: ReadonlyArray<{ result: string }>, result: string) =>
    reports.filter((r) => r.result === result).length;
  return {
    incrementsCommitted: by(counter, 'committed'),
    incrementsRejected: by(counter, 'rejected'),
    incrementsUnknown: by(counter, 'unknown'),
    permitWritesCommitted: by(
      guarded.filter((g) => g.lock === 'semaphore'),
      'committed',
    ),
    readerWritesCommitted: by(
      guarded.filter((g) => g.lock === 'read'),
      'committed',
    ),
    writerWritesCommitted: by(
      guarded.filter((g) => g.lock === 'write'),
      'committed',
    ),
    guardedRejected: by(guarded, 'rejected'),
    guardedUnknown: by(guarded, 'unknown'),
    terms,
    fencedCommitted: by(fenced, 'committed'),
    fencedRejected: by(fenced, 'rejected'),
    fencedUnknown: by(fenced, 'unknown'),
    workers: clients.length,
  };
}
