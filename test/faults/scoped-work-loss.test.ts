// Leader work scoped with whileLeader, lost under faults: a blackholed connection (the work's
// signal must abort before etcd expires the lease), a leader process frozen with SIGSTOP past its
// TTL (nothing can run while frozen: the signal aborts at once on resume and the fenced writes
// keep the data safe), and requeue (after a blackhole and a heal the process is a candidate again
// by itself). Each measures; the numbers are reported with t.diagnostic.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Concord, isConcordError, type Leadership } from 'concord-etcd';
import { filter, firstValueFrom, map } from 'rxjs';
import { useCluster } from '../support/fixture.js';
import { startProxy } from '../support/proxy.js';
import { sleep, waitUntil } from '../support/wait.js';
import { spawnWorker } from '../support/worker.js';

const CANDIDATE = fileURLToPath(new URL('../../examples/workers/candidate.ts', import.meta.url));
const TTL = 2;
const RUNS = Number(process.env.SCOPED_LOSS_RUNS ?? 5);
const now = () => performance.timeOrigin + performance.now();

/** p50 and min of `values`, for the report. */
function summary(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const p50 = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return `p50 ${p50.toFixed(0)} ms, min ${sorted[0]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms (n=${sorted.length})`;
}

describe('Scoped leader work under faults', () => {
  const fx = useCluster({ concord: {} });

  /**
   * Resolves with the instant this process sees `key` deleted (the lease expired or was revoked)
   * and the revision that deleted it: no write of that key's term may commit at or after it.
   */
  function deletion(prefix: string, key: string): Promise<{ at: number; revision: bigint }> {
    return firstValueFrom(
      fx.concord.view({ prefix }).pipe(
        filter((v) => !v.entries.has(key)),
        map((v) => ({ at: now(), revision: v.revision })),
      ),
    );
  }

  /** Every history write of `term` with the revision that committed it. */
  async function historyOf(prefix: string, term: bigint): Promise<bigint[]> {
    const res = await fx.cluster
      .client()
      .getAll()
      .prefix(`${prefix}${term.toString().padStart(12, '0')}/`)
      .exec();
    return res.kvs.map((kv) => BigInt(kv.mod_revision));
  }

  test('blackholed leader: its work is told to stop before etcd expires the lease, and its term writes nothing after the next began', async (t) => {
    const margins: number[] = [];
    const deadlines: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const name = `blackhole-${run}`;
      const proxy = await startProxy(fx.cluster.endpoints[0]!);
      const cutOff = new Concord({ endpoints: [proxy.endpoint], callTimeoutMs: 1_000 });
      const other = new Concord({ endpoints: fx.cluster.endpoints });
      try {
        let abortedAt = 0;
        let reason: unknown;
        let leader: Leadership | undefined;
        const writes: Array<{ seq: number; ok: boolean }> = [];
        const work = async (leadership: Leadership, signal: AbortSignal) => {
          leader = leadership;
          signal.addEventListener('abort', () => {
            abortedAt = now();
            reason = signal.reason;
          });
          for (let seq = 1; !signal.aborted; seq++) {
            const key = `bh/${name}/${leadership.term.toString().padStart(12, '0')}/${seq}`;
            const ok = await leadership.txn([{ type: 'put', key, value: 'x' }]).catch(() => false);
            writes.push({ seq, ok });
            await sleep(50);
          }
        };
        const cut = cutOff
          .election(name, { ttl: TTL })
          .whileLeader('cut-off', work)
          .subscribe({ error: () => {} });
        await waitUntil(() => leader !== undefined && writes.length > 2, { message: 'leading and writing' });
        let successorTerm = 0n;
        const next = other
          .election(name, { ttl: TTL })
          .whileLeader('other', async (l) => {
            successorTerm = l.term;
          })
          .subscribe();
        await waitUntil(
          async () => (await fx.cluster.client().getAll().prefix(`election/${name}/`).keys()).length === 2,
          {
            message: 'a second candidate queued',
          },
        );
        const gone = deletion(`election/${name}/`, leader!.key);
        const cutAt = now();
        proxy.blackhole();
        const { at: expiredAt, revision: endOfTerm } = await gone;
        await waitUntil(() => successorTerm > 0n, { message: 'the successor elected' });
        margins.push(expiredAt - abortedAt);
        deadlines.push(abortedAt - cutAt);
        assert.ok(
          abortedAt > 0 && abortedAt < expiredAt,
          `run ${run}: aborted ${abortedAt - expiredAt} ms after the expiry`,
        );
        assert.ok(isConcordError(reason, 'LEADERSHIP_LOST'), String(reason));
        proxy.restore();
        // Back online, the old term's writes are refused, and none committed once its key was gone.
        assert.equal(await leader!.txn([{ type: 'put', key: `bh/${name}/stale`, value: 'x' }]), false);
        const old = await historyOf(`bh/${name}/`, leader!.term);
        assert.ok(old.length > 0, 'the old leader wrote');
        assert.ok(
          old.every((revision) => revision < endOfTerm),
          `run ${run}: old-term writes at ${old.join(', ')}, its key deleted at ${endOfTerm}`,
        );
        cut.unsubscribe();
        next.unsubscribe();
      } finally {
        await cutOff.close();
        await other.close();
        await proxy.close();
      }
    }
    t.diagnostic(
      `TTL ${TTL} s, default margin ${Math.floor((TTL * 1000) / 3)} ms; blackhole → signal aborted: ${summary(deadlines)}`,
    );
    t.diagnostic(`signal aborted before etcd expired the lease by: ${summary(margins)}`);
  });

  test('leader frozen by SIGSTOP past its TTL: on resume its signal aborts before another step, no stale write commits', async (t) => {
    const afterResume: number[] = [];
    const margins: number[] = [];
    for (let run = 0; run < 3; run++) {
      const name = `sigstop-${run}`;
      const worker = spawnWorker(CANDIDATE, {
        env: {
          ETCD_ENDPOINTS: fx.cluster.endpoints.join(','),
          ELECTION: name,
          CANDIDATE: 'frozen',
          TTL: String(TTL),
          WORK_EVERY_MS: '50',
        },
      });
      try {
        const elected = await worker.waitFor((m) => m.type === 'elected', 15_000);
        await worker.waitFor((m) => m.type === 'write' && m.ok === true, 5_000);
        let successorTerm = 0n;
        const next = fx.concord
          .election(name, { ttl: TTL })
          .whileLeader('other', async (l) => {
            successorTerm = l.term;
          })
          .subscribe();
        const gone = deletion(`election/${name}/`, String(elected.key));
        worker.pause();
        const { at: expiredAt, revision: endOfTerm } = await gone;
        await waitUntil(() => successorTerm > 0n, { message: 'the successor elected' });
        await sleep(200);
        const resumedAt = now();
        worker.resume();
        const lost = await worker.waitFor((m) => m.type === 'lost', 10_000);
        await sleep(300);
        afterResume.push(Number(lost.at) - resumedAt);
        margins.push(expiredAt - Number(lost.at));
        assert.equal(lost.error, 'LeadershipLostError');
        const lateOk = worker
          .all()
          .filter((m) => m.type === 'write' && m.ok === true && Number(m.at) > resumedAt);
        assert.deepEqual(lateOk, [], 'no write committed after the resume');
        const stepsAfter = worker.all().filter((m) => m.type === 'write' && Number(m.at) > Number(lost.at));
        assert.deepEqual(stepsAfter, [], 'no step started once the signal had aborted');
        const old = await historyOf('history/', BigInt(String(elected.term)));
        assert.ok(old.length > 0, 'the frozen leader wrote before the pause');
        assert.ok(
          old.every((revision) => revision < endOfTerm),
          `run ${run}: old-term writes at ${old.join(', ')}, its key deleted at ${endOfTerm}`,
        );
        next.unsubscribe();
      } finally {
        worker.resume();
        await worker.kill();
      }
    }
    t.diagnostic(`SIGSTOP ${TTL} s+ : signal aborted ${summary(afterResume)} after the resume`);
    t.diagnostic(
      `relative to etcd's expiry (frozen, nothing can run in time; negative = after): ${summary(margins)}`,
    );
  });

  test('requeue: after a blackhole and a heal the same process is a candidate again, and leads again', async (t) => {
    const proxy = await startProxy(fx.cluster.endpoints[0]!);
    const concord = new Concord({ endpoints: [proxy.endpoint], callTimeoutMs: 1_000 });
    try {
      const terms: Array<{ term: bigint; at: number }> = [];
      const subscription = concord
        .election('requeue', { ttl: TTL })
        .whileLeader(
          'me',
          async (leadership, signal) => {
            terms.push({ term: leadership.term, at: now() });
            await new Promise((resolve) => signal.addEventListener('abort', resolve));
          },
          { requeue: true },
        )
        .subscribe({ error: (err: unknown) => assert.fail(`requeue must not error: ${String(err)}`) });
      await waitUntil(() => terms.length === 1, { message: 'first term' });
      proxy.blackhole();
      await waitUntil(
        async () => (await fx.cluster.client().getAll().prefix('election/requeue/').keys()).length === 0,
        {
          timeoutMs: 10_000,
          message: 'the first term expired',
        },
      );
      await sleep(500);
      const healedAt = now();
      proxy.restore();
      await waitUntil(() => terms.length === 2, { timeoutMs: 15_000, message: 'elected again' });
      t.diagnostic(
        `elected again ${(terms[1]!.at - healedAt).toFixed(0)} ms after the heal, without user code`,
      );
      assert.ok(terms[1]!.term > terms[0]!.term);
      subscription.unsubscribe();
    } finally {
      await concord.close();
      await proxy.close();
    }
  });
});
