// The leader-failover demo: three worker processes campaign for leadership through concord, each
// running its leader work with election.whileLeader() (steps of 800 ms, each ending with a write
// fenced by its term). The demo SIGKILLs the leader and shows how long the failover took; then it
// asks the next leaders to step down and shows the drained graceful handoff: the work is told to
// stop, finishes the step in flight, and only then is the key deleted and the next one elected.
//
//   npm run demo                                  # starts a throwaway local etcd (needs the etcd binary)
//   ETCD_ENDPOINTS=10.0.0.1:2379 npm run demo     # uses your etcd (keys under concord-demo/<run>/, cleaned up)
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Concord } from 'concord-etcd';
import { filter, firstValueFrom, map } from 'rxjs';
import { spawnWorker, type Worker, type WorkerMessage } from '../test/support/worker.js';
import { ensureEtcd } from './support/local-etcd.js';

const TTL = 2;
/** How long one step of leader work takes; a drain lets the step in flight finish. */
const STEP_MS = 800;
const NAMES = ['alpha', 'bravo', 'charlie'] as const;
const ELECTION = 'leader-failover';
// Where concord keeps the election's candidate keys (see src/election/layout.ts).
const PREFIX = `election/${ELECTION}/`;
const WORKER = fileURLToPath(new URL('./workers/candidate.ts', import.meta.url));
const started = performance.timeOrigin + performance.now();

/** Prints one timeline line: elapsed ms since the demo started, who, what. */
function line(who: string, what: string, at = performance.timeOrigin + performance.now()): void {
  console.log(`[${(at - started).toFixed(0).padStart(6)} ms] ${who.padEnd(8)} ${what}`);
}

const ms = (value: number) => `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ms`;

interface Candidate {
  name: string;
  worker: Worker;
  /** Every message of the worker, in order, as it arrives. */
  onMessage: (handler: (m: WorkerMessage) => void) => void;
}

function spawnCandidate(name: string, env: Record<string, string>): Candidate {
  const worker = spawnWorker(WORKER, { env: { ...env, CANDIDATE: name } });
  const handlers: Array<(m: WorkerMessage) => void> = [];
  void (async () => {
    for (let i = 0; ; i++) {
      const message = await worker.waitFor(() => true, 3_600_000, { since: i }).catch(() => undefined);
      if (message === undefined) return;
      for (const handler of handlers) handler(message);
    }
  })();
  return { name, worker, onMessage: (handler) => handlers.push(handler) };
}

/** Resolves with the first message of `candidate` matching `pred` from now on. */
function next(
  candidate: Candidate,
  pred: (m: WorkerMessage) => boolean,
  timeoutMs = 15_000,
): Promise<WorkerMessage> {
  return candidate.worker.waitFor(pred, timeoutMs, { since: candidate.worker.all().length });
}

async function main(): Promise<void> {
  console.log('concord leader-failover demo\n');
  const etcd = await ensureEtcd((text) => line('etcd', text));
  const namespace = `concord-demo/${process.pid}-${Date.now().toString(36)}/`;
  const concord = new Concord({ endpoints: etcd.endpoints, namespace });
  const election = concord.election(ELECTION);
  line(
    'tip',
    `watch it from another shell: npx concord-etcd leader ${ELECTION} --endpoints ${etcd.endpoints} --namespace ${namespace}`,
  );
  const candidates: Candidate[] = [];
  try {
    // What any process would see: the leader as etcd reports it, through concord's shared watch.
    election.leader$.subscribe((leader) =>
      line('leader$', leader ? `${leader.value} leads (term ${leader.term})` : 'no leader'),
    );
    const env = {
      ETCD_ENDPOINTS: etcd.endpoints,
      CONCORD_NAMESPACE: namespace,
      ELECTION,
      TTL: String(TTL),
      RECAMPAIGN: '1',
      STEP_MS: String(STEP_MS),
      WORK_EVERY_MS: '50',
    };
    // One at a time, so the queue order is alpha, bravo, charlie.
    for (const name of NAMES) {
      const candidate = spawnCandidate(name, env);
      candidates.push(candidate);
      candidate.onMessage((m) => {
        if (m.type === 'elected') line(name, `elected leader, term ${m.term}: its work starts`, Number(m.at));
        if (m.type === 'lost') line(name, `lost: ${m.message}`, Number(m.at));
      });
      const ready = await candidate.worker.waitFor((m) => m.type === 'ready', 15_000);
      line(name, `started (pid ${ready.pid}), campaigning with a ${TTL} s session (whileLeader)`);
      await candidate.worker.waitFor((m) => m.type === 'campaigning', 15_000);
      await waitForCandidates(concord, candidates.length);
    }
    const [alpha, bravo, charlie] = candidates as [Candidate, Candidate, Candidate];

    // 1. Crash: SIGKILL the leader. Its key stays until etcd expires its lease (TTL), then the
    //    next candidate, which watches only that key, is elected.
    await sleep(2_000);
    const keyGone = watchDeletion(concord, alpha);
    const killedAt = performance.timeOrigin + performance.now();
    line('demo', `SIGKILL alpha (pid ${alpha.worker.pid}), the leader: no chance to resign`);
    const bravoElected = next(bravo, (m) => m.type === 'elected');
    await alpha.worker.kill('SIGKILL');
    const expiredAt = await keyGone;
    line('etcd', `alpha's lease expired after ${ms(expiredAt - killedAt)}: its key is deleted`, expiredAt);
    const electedAt = Number((await bravoElected).at);
    await settle();
    const failover = electedAt - killedAt;
    const afterExpiry = electedAt - expiredAt;
    line(
      'demo',
      `failover: bravo leads ${ms(failover)} after the kill, ${ms(afterExpiry)} after etcd expired the lease`,
    );

    // 2. Graceful handoffs: the leader is asked to step down (its whileLeader subscription ends).
    //    Its work's signal aborts with a DrainError; it finishes the step in flight; then the key
    //    is deleted (guarded by its term) and the next candidate, woken by that delete, takes over.
    await sleep(1_000);
    const handoffs: Handoff[] = [];
    let leader = bravo;
    for (let round = 0; round < 3; round++) {
      const successor = leader === bravo ? charlie : bravo;
      handoffs.push(await stepDown(leader, successor));
      leader = successor;
      await sleep(500);
    }

    console.log('\nsummary');
    console.log(
      `  crash failover (TTL ${TTL} s): ${ms(failover)} after SIGKILL, of which ${ms(afterExpiry)} after etcd expired the lease`,
    );
    console.log(
      `  drained handoffs (${STEP_MS} ms steps): ${handoffs
        .map((h) => `${ms(h.drain + h.handoff)} = ${ms(h.drain)} drain + ${ms(h.handoff)} handoff`)
        .join(', ')}`,
    );
  } finally {
    line('demo', 'shutting down');
    await Promise.all(
      candidates.map(async ({ worker }) => {
        worker.send({ cmd: 'exit' });
        const timer = setTimeout(() => void worker.kill('SIGKILL'), 5_000);
        await worker.exited;
        clearTimeout(timer);
      }),
    );
    await concord.close();
    await etcd.stop();
  }
}

interface Handoff {
  /** From the request to step down until the work returned (the step in flight finished). */
  drain: number;
  /** From the work returning until the successor's work started. */
  handoff: number;
}

/** Asks `leader` to step down and tells the story of the drained handoff to `successor`. */
async function stepDown(leader: Candidate, successor: Candidate): Promise<Handoff> {
  // Ask a little into a step, so there is a step in flight to finish.
  await next(leader, (m) => m.type === 'write');
  await sleep(250);
  line('demo', `asking ${leader.name} to step down: its work is drained, then its key is deleted`);
  const stopping = next(leader, (m) => m.type === 'stopping');
  const resigned = next(leader, (m) => m.type === 'resigned');
  const elected = next(successor, (m) => m.type === 'elected');
  const askedAt = performance.timeOrigin + performance.now();
  leader.worker.send({ cmd: 'resign' });
  const stop = await stopping;
  const inFlight = stop.stepStartedAt === null ? undefined : Number(stop.stepStartedAt);
  line(
    leader.name,
    inFlight === undefined
      ? 'drain requested between two steps'
      : `drain requested (DrainError): step in flight since ${ms(Number(stop.at) - inFlight)}, finishing it`,
    Number(stop.at),
  );
  const returnedAt = Number((await resigned).at);
  const lastStep = leader.worker
    .all()
    .filter((m) => m.type === 'write')
    .at(-1);
  line(
    leader.name,
    `last step done (fenced write ${lastStep?.ok ? 'committed' : 'refused'}), work returned: deleting its key`,
    returnedAt,
  );
  const startedAt = Number((await elected).at);
  await settle();
  const lastEnd = Number(lastStep?.done ?? returnedAt);
  line(
    'demo',
    `no overlap: ${successor.name}'s work started ${ms(startedAt - lastEnd)} after ${leader.name}'s last step ended`,
  );
  const result = { drain: returnedAt - askedAt, handoff: startedAt - returnedAt };
  line(
    'demo',
    `handoff: ${successor.name} leads ${ms(startedAt - askedAt)} after ${leader.name} was asked = ` +
      `${ms(result.drain)} drain + ${ms(result.handoff)} handoff`,
  );
  return result;
}

/** Resolves once `count` candidate keys exist, so the next worker queues behind the earlier ones. */
async function waitForCandidates(concord: Concord, count: number): Promise<void> {
  await firstValueFrom(concord.view({ prefix: PREFIX }).pipe(filter((view) => view.entries.size >= count)));
}

/** Resolves with the instant the demo sees `leader`'s key deleted (its lease expired). */
function watchDeletion(concord: Concord, leader: Candidate): Promise<number> {
  const elected = leader.worker
    .all()
    .filter((m) => m.type === 'elected')
    .at(-1);
  const key = String(elected?.key);
  // The same shared view leader$ uses: already loaded, so no deletion can slip past it.
  return firstValueFrom(
    concord.view({ prefix: PREFIX }).pipe(
      filter((view) => !view.entries.has(key)),
      map(() => performance.timeOrigin + performance.now()),
    ),
  );
}

/** Lets the workers' own lines for the same moment print first, so the timeline reads in order. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sleep(msToWait: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msToWait));
}

const deadline = setTimeout(() => {
  console.error('demo: did not finish within 60 s');
  process.exit(1);
}, 60_000);
deadline.unref();
main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('demo failed:', err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
