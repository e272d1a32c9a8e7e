// One candidate process of the leader-failover demo (and of the election fault tests). It campaigns
// for leadership and reports every step as a JSON line to the process that spawned it:
//   { type: 'campaigning' | 'elected' | 'lost' | 'resigned' | 'resigning' | 'write', at, ... }
// `at` is epoch milliseconds with sub-millisecond precision, comparable across processes.
// Commands arrive as JSON lines on stdin: { cmd: 'resign' } or { cmd: 'exit' }.
//
// Environment: ETCD_ENDPOINTS, CONCORD_NAMESPACE, ELECTION (name), CANDIDATE (the value it campaigns
// with), TTL (seconds, default 2), RECAMPAIGN=1 (campaign again after losing or resigning),
// WORK_EVERY_MS (while leading, write history/<term>/<seq> with leadership.txn at this interval).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Concord, type Leadership } from 'concord-etcd';
import { onMessage, send } from '../../test/support/worker-child.js';

const candidate = process.env.CANDIDATE ?? `pid-${process.pid}`;
const ttl = Number(process.env.TTL ?? '2');
const recampaign = process.env.RECAMPAIGN === '1';
const workEveryMs = Number(process.env.WORK_EVERY_MS ?? '0');

const now = () => performance.timeOrigin + performance.now();
const concord = new Concord({ namespace: process.env.CONCORD_NAMESPACE ?? '' });
const election = concord.election(process.env.ELECTION ?? 'leader-failover', { ttl });
let leadership: Leadership | undefined;
let exiting = false;

function run(): void {
  if (exiting) return;
  send({ type: 'campaigning', at: now() });
  election.campaign(candidate).subscribe({
    next: (won) => {
      leadership = won;
      send({ type: 'elected', term: won.term, key: won.key, at: now() });
      if (workEveryMs > 0) void work(won);
    },
    error: (err: unknown) => {
      send({
        type: 'lost',
        term: leadership?.term ?? null,
        error: err instanceof Error ? err.name : 'Error',
        message: err instanceof Error ? err.message : String(err),
        at: now(),
      });
      leadership = undefined;
      if (recampaign) setTimeout(run, 100);
    },
    complete: () => {
      send({ type: 'resigned', term: leadership?.term ?? null, at: now() });
      leadership = undefined;
      if (recampaign) setTimeout(run, 100);
    },
  });
}

/** What a leader does: writes that commit only while its term holds. */
async function work(won: Leadership): Promise<void> {
  for (let seq = 1; won.isLeader; seq++) {
    const at = now();
    const key = `history/${won.term.toString().padStart(12, '0')}/${String(seq).padStart(6, '0')}`;
    try {
      const ok = await won.txn([{ type: 'put', key, value: JSON.stringify({ candidate, seq, at }) }]);
      send({ type: 'write', term: won.term, seq, ok, at, done: now() });
    } catch (err) {
      send({
        type: 'write',
        term: won.term,
        seq,
        ok: false,
        at,
        error: err instanceof Error ? err.name : 'Error',
      });
    }
    await sleep(workEveryMs);
  }
}

onMessage((msg) => {
  const cmd = (msg as { cmd?: unknown }).cmd;
  if (cmd === 'resign' && leadership) {
    send({ type: 'resigning', term: leadership.term, at: now() });
    void leadership.resign();
  } else if (cmd === 'exit') {
    exiting = true;
    // Diagnostics, not a workaround: a close() that hangs is a bug the parent should hear about.
    setTimeout(() => {
      process.stderr.write(
        `close() still pending after 10 s: ${process.getActiveResourcesInfo().join(', ')}\n`,
      );
      process.exit(3);
    }, 10_000).unref();
    // close() resigns a leadership at once, so the next candidate takes over without waiting for the TTL.
    void concord.close().then(() => process.exit(0));
  }
});

send({ type: 'ready', pid: process.pid, candidate });
run();
