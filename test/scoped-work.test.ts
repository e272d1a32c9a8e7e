// Work scoped to a lock or a leadership (whileHeld, whileLeader) against a real etcd: what happens
// when the work returns, fails, is drained, overruns its drain, is lost, or is requeued. Loss by a
// blackhole or a paused process is in test/faults/scoped-work-loss.test.ts.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  Concord,
  DrainError,
  InvalidArgumentError,
  isConcordError,
  type Leadership,
  type LockHandle,
} from 'concord-etcd';
import { firstValueFrom, fromEvent, interval, map, Observable, take, takeUntil } from 'rxjs';
import { useCluster } from './support/fixture.js';
import { waitUntil } from './support/wait.js';

const now = () => performance.now();

/** Everything an Observable did, with the instants. */
function watch<T>(source: Observable<T>) {
  const values: T[] = [];
  const log: string[] = [];
  let endedAt: number | undefined;
  let error: unknown;
  const subscription = source.subscribe({
    next: (value) => {
      values.push(value);
      log.push('next');
    },
    error: (err: unknown) => {
      error = err;
      endedAt = now();
      log.push('error');
    },
    complete: () => {
      endedAt = now();
      log.push('complete');
    },
  });
  return { values, log, subscription, endedAt: () => endedAt, error: () => error };
}

/** A logger that keeps every warning. */
function warnings() {
  const seen: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];
  return {
    seen,
    logger: { warn: (message: string, fields?: Record<string, unknown>) => seen.push({ message, fields }) },
  };
}

describe('Scoped work', () => {
  const fx = useCluster({ concord: { namespace: 'scoped/' } });
  const extra: Concord[] = [];
  const connect = (options: ConstructorParameters<typeof Concord>[0] = {}) => {
    const concord = new Concord({ endpoints: fx.cluster.endpoints, namespace: 'scoped/', ...options });
    extra.push(concord);
    return concord;
  };
  after(async () => {
    await Promise.all(extra.map((c) => c.close()));
  });

  const keysUnder = (prefix: string) => fx.cluster.client().getAll().prefix(`scoped/${prefix}`).keys();

  test('bad work or options are InvalidArgumentErrors naming the argument, before anything is written', async () => {
    const revision = await fx.cluster.revision();
    const mutex = fx.concord.mutex('bad', { ttl: 4 });
    const election = fx.concord.election('bad', { ttl: 4 });
    const work = async () => 1;
    const cases: Array<[() => unknown, string]> = [
      [() => mutex.whileHeld('no' as never), 'work'],
      [() => mutex.whileHeld(work, { marginMs: -1 }), 'options.marginMs'],
      [() => mutex.whileHeld(work, { marginMs: 2_001 }), 'options.marginMs'],
      [() => mutex.whileHeld(work, { drainTimeoutMs: 1.5 }), 'options.drainTimeoutMs'],
      [() => mutex.whileHeld(work, { requeue: true } as never), 'options.requeue'],
      [() => election.whileLeader('v', work, { requeue: 'yes' as never }), 'options.requeue'],
      [() => election.whileLeader(42 as never, work), 'value'],
      [() => election.whileLeader('v', undefined as never), 'work'],
      [
        () => fx.concord.semaphore('bad', { permits: 2 }).whileHeld(work, { marginMs: 5_001 }),
        'options.marginMs',
      ],
      [() => fx.concord.rwlock('bad').whileWriting(work, { tll: 1 } as never), 'options.tll'],
    ];
    for (const [make, argument] of cases) {
      assert.throws(
        make,
        (err: unknown) => err instanceof InvalidArgumentError && err.argument === argument,
        argument,
      );
    }
    assert.equal(await fx.cluster.revision(), revision, 'nothing written');
  });

  test('whileHeld: the work returns → released, then complete; the work fails → released, then error', async () => {
    const mutex = fx.concord.mutex('returns', { ttl: 5 });
    let keyDuring: string[] = [];
    const done = watch(
      mutex.whileHeld(async (lock, signal) => {
        keyDuring = await keysUnder('returns/');
        assert.equal(signal.aborted, false);
        assert.ok(lock.isHeld);
        return lock.fencingToken;
      }),
    );
    await waitUntil(() => done.endedAt() !== undefined, { message: 'completion' });
    assert.deepEqual(done.log, ['next', 'complete']);
    assert.equal(keyDuring.length, 1);
    assert.deepEqual(await keysUnder('returns/'), [], 'released before complete');

    const boom = new Error('boom');
    const failed = watch(
      mutex.whileHeld(async () => {
        throw boom;
      }),
    );
    await waitUntil(() => failed.endedAt() !== undefined, { message: 'the error' });
    assert.deepEqual(failed.log, ['error']);
    assert.equal(failed.error(), boom);
    assert.deepEqual(await keysUnder('returns/'), []);
  });

  test('Observable work: its values are emitted; it completing releases the lock', async () => {
    const mutex = fx.concord.mutex('observable', { ttl: 5 });
    const run = watch(
      mutex.whileHeld((lock) =>
        interval(20).pipe(
          map((i) => `${lock.fencingToken}:${i}`),
          take(3),
        ),
      ),
    );
    await waitUntil(() => run.endedAt() !== undefined, { message: 'completion' });
    assert.equal(run.values.length, 3);
    assert.equal(run.log.at(-1), 'complete');
    assert.deepEqual(await keysUnder('observable/'), []);
  });

  /**
   * Leader a works in steps of `stepMs` (each finishes once started); b queues behind it. a is
   * asked to stop 200 ms into a fresh step (or, with stepMs 0, between steps). Measures the drain
   * (request → a's last step ended) and when b's work started.
   */
  async function drainedHandoff(name: string, stepMs: number) {
    const a = connect();
    const b = connect();
    const steps: Array<{ start: number; end: number }> = [];
    let reason: unknown;
    let returnedAt = 0;
    const first = watch(
      a.election(name, { ttl: 5 }).whileLeader('a', async (_l: Leadership, signal: AbortSignal) => {
        while (!signal.aborted) {
          const step = { start: now(), end: 0 };
          steps.push(step);
          await delay(stepMs); // one step of work: once started, it finishes
          step.end = now();
          await delay(stepMs === 0 ? 20 : 0, undefined, { signal }).catch(() => undefined);
        }
        reason = signal.reason;
        returnedAt = now();
      }),
    );
    await waitUntil(() => steps.length > 0, { message: 'a leading' });
    let successorAt = 0;
    const second = watch(
      b.election(name, { ttl: 5 }).whileLeader('b', async () => {
        successorAt = now();
      }),
    );
    await waitUntil(async () => (await keysUnder(`election/${name}/`)).length === 2, { message: 'b queued' });
    const fresh = steps.length;
    await waitUntil(() => steps.length > fresh, { message: 'a fresh step', intervalMs: 5 });
    await delay(stepMs === 0 ? 5 : 200);
    const askedAt = now();
    first.subscription.unsubscribe();
    await waitUntil(() => successorAt > 0, { timeoutMs: 10_000, message: 'b elected' });
    await waitUntil(() => second.endedAt() !== undefined, { message: 'b done' });
    assert.ok(reason instanceof DrainError, `the signal's reason: ${String(reason)}`);
    assert.ok(
      steps.every((step) => step.start < askedAt),
      'no step started after the drain request',
    );
    assert.deepEqual(second.log, ['next', 'complete']);
    assert.deepEqual(first.log, [], 'an unsubscribed Observable reports nothing');
    const last = steps.at(-1)!;
    return { askedAt, lastStep: last, returnedAt, successorAt };
  }

  test('drain: an 800 ms step in flight when the leader is asked to stop ends before the successor starts', async (t) => {
    const usual = await drainedHandoff('handoff', 0);
    const drained = await drainedHandoff('drain', 800);
    const { askedAt, lastStep, successorAt } = drained;
    const usualMs = usual.successorAt - usual.askedAt;
    const drainMs = drained.returnedAt - askedAt;
    t.diagnostic(
      `asked ${(askedAt - lastStep.start).toFixed(0)} ms into an 800 ms step: drain ${drainMs.toFixed(0)} ms, ` +
        `successor started ${(successorAt - lastStep.end).toFixed(1)} ms after the step ended; handoff ` +
        `${(successorAt - askedAt).toFixed(0)} ms = drain + ${(successorAt - drained.returnedAt).toFixed(1)} ms ` +
        `(usual handoff, no step in flight: ${usualMs.toFixed(1)} ms)`,
    );
    assert.ok(lastStep.end > 0 && successorAt > lastStep.end, 'the successor started after the step ended');
  });

  test('drainTimeoutMs exceeded: released anyway, the signal was aborted, the overrun is logged', async (t) => {
    const name = 'overrun';
    const { seen, logger } = warnings();
    const a = connect({ logger });
    const b = connect();
    let aborted: unknown;
    let workEnded = 0;
    const first = watch(
      a.mutex(name, { ttl: 5 }).whileHeld(
        async (_lock, signal) => {
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
          });
          await delay(2_000); // ignores the signal
          workEnded = now();
        },
        { drainTimeoutMs: 300 },
      ),
    );
    await waitUntil(async () => (await keysUnder(`${name}/`)).length === 1, { message: 'a holding' });
    const next = b.mutex(name, { ttl: 5 }).lock();
    const askedAt = now();
    first.subscription.unsubscribe();
    const lock = await next;
    const acquiredAt = now();
    t.diagnostic(
      `drainTimeoutMs 300: the next holder got the lock ${(acquiredAt - askedAt).toFixed(0)} ms after the request`,
    );
    assert.ok(aborted instanceof DrainError);
    assert.equal(workEnded, 0, 'the work was still running when the lock went');
    assert.ok(acquiredAt - askedAt >= 300, 'not before the drain timeout');
    const overrun = seen.find((w) => w.fields?.code === 'DRAIN_TIMEOUT');
    assert.ok(overrun, `a DrainTimeoutError warning: ${JSON.stringify(seen)}`);
    assert.ok(Number(overrun.fields?.waitedMs) >= 300);
    await lock.release();
  });

  test('Observable work that ignores the signal is unsubscribed once its drain timed out', async () => {
    const { seen, logger } = warnings();
    const a = connect({ logger });
    let ticks = 0;
    let unsubscribedAt = 0;
    const run = watch(
      a.mutex('ignores', { ttl: 5 }).whileHeld(
        () =>
          new Observable<number>((subscriber) => {
            const timer = setInterval(() => subscriber.next(++ticks), 20);
            return () => {
              clearInterval(timer);
              unsubscribedAt = now();
            };
          }),
        { drainTimeoutMs: 200 },
      ),
    );
    await waitUntil(() => ticks > 2, { message: 'ticking' });
    const askedAt = now();
    run.subscription.unsubscribe();
    await waitUntil(() => unsubscribedAt > 0, { message: 'the work unsubscribed' });
    assert.ok(unsubscribedAt - askedAt >= 200);
    assert.ok(seen.some((w) => w.fields?.code === 'DRAIN_TIMEOUT'));
    await waitUntil(async () => (await keysUnder('ignores/')).length === 0, { message: 'released' });
  });

  test('Observable work that completes on the signal drains without overrun', async () => {
    const { seen, logger } = warnings();
    const a = connect({ logger });
    const run = watch(
      a
        .mutex('completes', { ttl: 5 })
        .whileHeld((_lock, signal) => interval(20).pipe(takeUntil(fromEvent(signal, 'abort')))),
    );
    await waitUntil(() => run.values.length > 2, { message: 'ticking' });
    run.subscription.unsubscribe();
    await waitUntil(async () => (await keysUnder('completes/')).length === 0, { message: 'released' });
    assert.deepEqual(seen, []);
  });

  test('concord.close() drains the work first, then releases, and completes the Observable', async () => {
    const a = connect();
    let stepEnded = 0;
    const run = watch(
      a.mutex('closing', { ttl: 5 }).whileHeld(async (_lock, signal) => {
        await firstValueFrom(fromEvent(signal, 'abort'));
        await delay(400);
        stepEnded = now();
        return 'stopped';
      }),
    );
    await waitUntil(async () => (await keysUnder('closing/')).length === 1, { message: 'holding' });
    await a.close();
    const closedAt = now();
    assert.ok(stepEnded > 0 && stepEnded <= closedAt, 'close() waited for the work');
    assert.deepEqual(run.log, ['next', 'complete']);
    assert.deepEqual(run.values, ['stopped']);
    assert.deepEqual(await keysUnder('closing/'), []);
  });

  test('loss (key deleted): the signal aborts with LeadershipLostError; the Observable errors after the work returned', async () => {
    const name = 'lost';
    let reason: unknown;
    let returnedAt = 0;
    let key = '';
    const run = watch(
      fx.concord.election(name, { ttl: 5 }).whileLeader('a', async (leadership, signal) => {
        key = leadership.key;
        await firstValueFrom(fromEvent(signal, 'abort'));
        reason = signal.reason;
        await delay(100);
        returnedAt = now();
      }),
    );
    await waitUntil(() => key !== '', { message: 'elected' });
    await fx.cluster.client().delete().key(`scoped/${key}`);
    await waitUntil(() => run.endedAt() !== undefined, { message: 'the error' });
    assert.ok(isConcordError(reason, 'LEADERSHIP_LOST'), String(reason));
    assert.equal(run.error(), reason);
    assert.ok(run.endedAt()! >= returnedAt && returnedAt > 0, 'errors only once the work has returned');
  });

  test('requeue: after a loss and after the work returned, the candidate campaigns again by itself', async () => {
    const name = 'requeue';
    const terms: bigint[] = [];
    const run = watch(
      fx.concord.election(name, { ttl: 5 }).whileLeader(
        'a',
        async (leadership, signal) => {
          terms.push(leadership.term);
          // The first term is lost (its key deleted below); the second returns by itself.
          if (terms.length === 1) await firstValueFrom(fromEvent(signal, 'abort'));
          return terms.length;
        },
        { requeue: true },
      ),
    );
    await waitUntil(() => terms.length === 1, { message: 'first term' });
    const [key] = await keysUnder(`election/${name}/`);
    await fx.cluster.client().delete().key(key!);
    await waitUntil(() => terms.length >= 3, { message: 'two more terms' });
    assert.ok(terms[1]! > terms[0]! && terms[2]! > terms[1]!);
    assert.deepEqual(run.log.slice(0, 3), ['next', 'next', 'next'], 'no error, no completion');
    run.subscription.unsubscribe();
    await waitUntil(async () => (await keysUnder(`election/${name}/`)).length === 0, {
      message: 'withdrawn',
    });
  });

  test('rwlock.whileWriting excludes; semaphore.whileHeld admits `permits` at once', async () => {
    const intervals: Array<[number, number]> = [];
    const write = async () => {
      const start = now();
      await delay(150);
      intervals.push([start, now()]);
    };
    const rw = fx.concord.rwlock('scoped-rw', { ttl: 5 });
    const writers = [watch(rw.whileWriting(write)), watch(rw.whileWriting(write))];
    let active = 0;
    let most = 0;
    const permit = async (_permit: LockHandle) => {
      most = Math.max(most, ++active);
      await delay(150);
      active--;
    };
    const semaphore = fx.concord.semaphore('scoped-sem', { permits: 2, ttl: 5 });
    const holders = [0, 1, 2].map(() => watch(semaphore.whileHeld(permit)));
    await waitUntil(() => [...writers, ...holders].every((w) => w.endedAt() !== undefined), {
      timeoutMs: 10_000,
      message: 'all done',
    });
    intervals.sort((x, y) => x[0] - y[0]);
    assert.ok(intervals[1]![0] >= intervals[0]![1], 'the writers did not overlap');
    assert.equal(most, 2);
  });
});
