// One candidate process of the leader-failover demo (and of the election fault tests). It runs its
// leader work with election.whileLeader(): the work starts when elected, its signal aborts before
// the lease can expire (or when asked to stop), and the key goes only once the work has returned.
// Every step is reported as a JSON line to the process that spawned it:
//   { type: 'campaigning' | 'elected' | 'write' | 'stopping' | 'lost' | 'resigning' | 'resigned', at, ... }
// `at` is epoch milliseconds with sub-millisecond precision, comparable across processes.
// Commands arrive as JSON lines on stdin: { cmd: 'resign' } (step down: drain, then resign) or
// { cmd: 'exit' } (concord.close(): drain, resign, exit).
//
// Environment: ETCD_ENDPOINTS, CONCORD_NAMESPACE, ELECTION (name), CANDIDATE (the value it campaigns
// with), TTL (seconds, default 2), RECAMPAIGN=1 (requeue: campaign again after a loss, and after
// stepping down), WORK_EVERY_MS (pause between two steps of leader work, default 100), STEP_MS (how
// long one step works before it writes history/<term>/<seq> with leadership.txn; default 0),
// DRAIN_TIMEOUT_MS (default 10000).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Concord, isConcordError, type Leadership } from 'concord-etcd';
import type { Subscription } from 'rxjs';
import { onMessage, send } from '../../test/support/worker-child.js';

const candidate = process.env.CANDIDATE ?? `pid-${process.pid}`;
const ttl = Number(process.env.TTL ?? '2');
const requeue = process.env.RECAMPAIGN === '1';
const workEveryMs = Number(process.env.WORK_EVERY_MS ?? '100');
const stepMs = Number(process.env.STEP_MS ?? '0');
const drainTimeoutMs = Number(process.env.DRAIN_TIMEOUT_MS ?? '10000');

const now = () => performance.timeOrigin + performance.now();
const concord = new Concord({ namespace: process.env.CONCORD_NAMESPACE ?? '' });
const election = concord.election(process.env.ELECTION ?? 'leader-failover', { ttl });
let leading: Leadership | undefined;
let subscription: Subscription | undefined;
let exiting = false;
/** Loss errors the work already reported when its signal aborted. */
const reported = new WeakSet<object>();

function describe(err: unknown): { error: string; message: string } {
  return {
    error: err instanceof Error ? err.name : 'Error',
    message: err instanceof Error ? err.message : String(err),
  };
}

function run(): void {
  if (exiting) return;
  send({ type: 'campaigning', at: now() });
  subscription = election.whileLeader(candidate, lead, { requeue, drainTimeoutMs }).subscribe({
    // A loss while leading was reported by the work itself; this is a loss while waiting (or worse).
    error: (err: unknown) => {
      if (!isConcordError(err, 'LEADERSHIP_LOST') || !reported.has(err)) {
        send({ type: 'lost', term: null, ...describe(err), at: now() });
      }
      if (requeue) setTimeout(run, 100);
    },
  });
}

/** The leader work: steps, each ending with a write that commits only while its term holds. */
async function lead(leadership: Leadership, signal: AbortSignal): Promise<void> {
  leading = leadership;
  const term = leadership.term;
  send({ type: 'elected', term, key: leadership.key, at: now() });
  let stepStartedAt: number | null = null;
  signal.addEventListener('abort', () => {
    const reason: unknown = signal.reason;
    if (reason instanceof Error) reported.add(reason);
    const type = isConcordError(reason, 'DRAIN') ? 'stopping' : 'lost';
    send({ type, term, ...describe(reason), stepStartedAt, at: now() });
  });
  // isLeader re-checks the local deadline, so a step never starts on a leadership a paused
  // process only believes it still has (the signal is set by a timer, which runs after I/O).
  for (let seq = 1; !signal.aborted && leadership.isLeader; seq++) {
    const at = now();
    stepStartedAt = at;
    if (stepMs > 0) await sleep(stepMs); // one step of work: once started, it finishes
    const key = `history/${term.toString().padStart(12, '0')}/${String(seq).padStart(6, '0')}`;
    try {
      const ok = await leadership.txn([{ type: 'put', key, value: JSON.stringify({ candidate, seq, at }) }]);
      send({ type: 'write', term, seq, ok, at, done: now() });
    } catch (err) {
      send({ type: 'write', term, seq, ok: false, at, error: describe(err).error });
    }
    stepStartedAt = null;
    await sleep(workEveryMs, undefined, { signal }).catch(() => undefined);
  }
  if (leading === leadership) leading = undefined;
  if (isConcordError(signal.reason, 'DRAIN')) send({ type: 'resigned', term, at: now() });
}

onMessage((msg) => {
  const cmd = (msg as { cmd?: unknown }).cmd;
  if (cmd === 'resign' && leading) {
    send({ type: 'resigning', term: leading.term, at: now() });
    // Unsubscribing drains the work; the key goes once it returned. Then queue up again.
    subscription?.unsubscribe();
    if (requeue) setTimeout(run, 100);
  } else if (cmd === 'exit') {
    exiting = true;
    // Diagnostics, not a workaround: a close() that hangs is a bug the parent should hear about.
    setTimeout(() => {
      process.stderr.write(
        `close() still pending after ${drainTimeoutMs + 10_000} ms: ${process.getActiveResourcesInfo().join(', ')}\n`,
      );
      process.exit(3);
    }, drainTimeoutMs + 10_000).unref();
    // close() drains the leader work, then resigns, so the next candidate takes over at once.
    void concord.close().then(() => process.exit(0));
  }
});

send({ type: 'ready', pid: process.pid, candidate });
run();
