// The scoped-work state machine on fakes: a hold whose budget and loss the test drives, fake
// timers for the drain timeout, a fake acquisition for the requeue loop.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { Observable, ReplaySubject, Subject } from 'rxjs';
import { EventBus } from '../core/events.js';
import type { Runtime } from '../core/runtime.js';
import { ClosedError, DrainError, LeadershipLostError, NotConnectedError } from '../errors.js';
import { whileHolding } from './scoped-work.js';
import { type ScopedHold, type TermEnd, type TermRules, WorkTerm } from './work-term.js';

/** A hold whose budget and loss the test drives, and a runtime that records warnings and tracking. */
function fixture() {
  const abort = new AbortController();
  const lost$ = new ReplaySubject<Error>(1);
  const expiring = new Subject<void>();
  const events: string[] = [];
  const held: ScopedHold = {
    key: 'k',
    signal: abort.signal,
    lost$,
    timeLeft: () => 1_234,
    // Like the real one: a late subscriber to a lost hold hears it at once.
    expiring$: () =>
      new Observable<void>((subscriber) => {
        if (!abort.signal.aborted) return expiring.subscribe(subscriber);
        subscriber.next();
        subscriber.complete();
        return undefined;
      }),
  };
  const tracked = new Set<unknown>();
  const runtime = {
    track: (resource: unknown) => {
      tracked.add(resource);
      return () => tracked.delete(resource);
    },
    log: {
      warn: (message: string, fields?: { code?: string }) => events.push(`warn:${fields?.code}:${message}`),
    },
    reconnectBackoff: {
      next: () => ({ duration: 1_000, next: () => ({ duration: 2_000, next: () => null }) }),
    },
    signal: new AbortController().signal,
    events: new EventBus(),
  } as unknown as Runtime;
  const rules: TermRules<ScopedHold> = {
    what: 'election "e"',
    subject: { kind: 'election', name: 'e' },
    release: async () => {
      events.push('released');
      if (!abort.signal.aborted) abort.abort(new Error('released'));
      lost$.complete();
    },
    lost: (message) => new LeadershipLostError(message),
    marginMs: 500,
    drainTimeoutMs: 1_000,
  };
  const lose = (error: Error) => {
    abort.abort(error);
    expiring.next();
    lost$.next(error);
    lost$.complete();
  };
  return { held, runtime, rules, events, tracked, lose, budgetLow: () => expiring.next() };
}

/** A promise the test settles by hand. */
function manual<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/** A term whose work waits on one step the test finishes by hand; `signal()` is the work's signal. */
function steppedTerm(f: ReturnType<typeof fixture>) {
  const step = manual();
  let signal: AbortSignal | undefined;
  const term = new WorkTerm(
    f.runtime,
    f.rules,
    f.held,
    async (_h, s) => {
      signal = s;
      await step.promise;
    },
    () => {},
  );
  return { step, term, signal: () => signal! };
}

/** Rejects with the signal's reason once it aborts, like a wait given the signal. */
function abortable(signal: AbortSignal): Promise<void> {
  return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
}

/** A term whose work never returns. */
function stuckTerm(f: ReturnType<typeof fixture>) {
  return new WorkTerm(
    f.runtime,
    f.rules,
    f.held,
    () => new Promise<void>(() => {}),
    () => {},
  );
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  // The drain timeout checks its time on performance.now() (monotonic): it follows the fake clock too.
  mock.method(performance, 'now', () => Date.now());
});
afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
});

test('the work returns: emitted, released, done; it fails: released, failed; a sync throw is a failure', async () => {
  const f = fixture();
  const emitted: number[] = [];
  const term = new WorkTerm(
    f.runtime,
    f.rules,
    f.held,
    async () => 7,
    (v) => emitted.push(v),
  );
  assert.equal(f.tracked.has(term), true, 'tracked while it runs (concord.close drains it)');
  assert.deepEqual(await term.ended, { kind: 'done' });
  assert.deepEqual(emitted, [7]);
  assert.deepEqual(f.events, ['released']);
  assert.equal(f.tracked.has(term), false);

  const boom = new Error('boom');
  const failing = fixture();
  const failed = new WorkTerm(
    failing.runtime,
    failing.rules,
    failing.held,
    () => Promise.reject(boom),
    () => {},
  );
  assert.deepEqual(await failed.ended, { kind: 'failed', error: boom });
  const throwing = fixture();
  const thrown = new WorkTerm(
    throwing.runtime,
    throwing.rules,
    throwing.held,
    () => {
      throw boom;
    },
    () => {},
  );
  assert.deepEqual(await thrown.ended, { kind: 'failed', error: boom });
  assert.deepEqual(throwing.events, ['released']);
});

test('drain: the signal aborts with a DrainError; the key goes only once the work has returned', async () => {
  const f = fixture();
  const { step, term, signal } = steppedTerm(f);
  const ended = term.drain('drained', 'the subscription ended');
  await settle();
  assert.ok(signal().reason instanceof DrainError);
  assert.deepEqual(f.events, [], 'still held while the step runs');
  mock.timers.tick(999);
  await settle();
  assert.deepEqual(f.events, []);
  step.resolve();
  assert.deepEqual(await ended, { kind: 'drained' });
  assert.deepEqual(f.events, ['released'], 'no overrun reported');
});

test('after the signal aborted, the work rejecting (with its reason) counts as having stopped', async () => {
  const f = fixture();
  const term = new WorkTerm(
    f.runtime,
    f.rules,
    f.held,
    (_h, signal) => abortable(signal),
    () => {},
  );
  assert.deepEqual(await term.drain('drained', 'unsubscribed'), { kind: 'drained' });
  assert.deepEqual(f.events, ['released'], 'no overrun: it stopped');
});

test('drain timeout: released anyway and reported once; the term ends without waiting any longer', async () => {
  const f = fixture();
  const term = stuckTerm(f);
  let end: TermEnd | undefined;
  void term.close().then(() => (end = { kind: 'closing' }));
  await settle();
  mock.timers.tick(1_000);
  await settle();
  assert.equal(f.events.length, 2);
  assert.match(
    f.events[0]!,
    /^warn:DRAIN_TIMEOUT:election "e": k: the work had not returned \d+ ms .*drainTimeoutMs passed/,
  );
  assert.equal(f.events[1], 'released');
  assert.deepEqual(end, { kind: 'closing' });
});

test('a drain stops waiting when the budget runs under the margin', async () => {
  const f = fixture();
  const term = stuckTerm(f);
  void term.drain('drained', 'unsubscribed');
  await settle();
  f.budgetLow();
  await settle();
  assert.match(f.events[0]!, /^warn:DRAIN_TIMEOUT:.*the lease is running low/);
  assert.equal(f.events[1], 'released');
});

test('budget under the margin: the signal aborts with the loss error; the key goes once the work returned', async () => {
  const f = fixture();
  const { step, term, signal } = steppedTerm(f);
  f.budgetLow();
  assert.ok(signal().reason instanceof LeadershipLostError, 'synchronously, at the alarm');
  assert.match((signal().reason as Error).message, /1234 ms of lease budget left \(margin 500 ms\)/);
  await settle();
  assert.deepEqual(f.events, []);
  step.resolve();
  const end = await term.ended;
  assert.equal(end.kind, 'lost');
  assert.equal((end as { error: Error }).error, signal().reason);
  assert.deepEqual(f.events, ['released']);
});

test('the hold lost outright: its own loss error is the reason; the key is given up at once, the term ends with the work', async () => {
  const f = fixture();
  const { step, term, signal } = steppedTerm(f);
  let ended = false;
  void term.ended.then(() => (ended = true));
  const loss = new LeadershipLostError('key deleted');
  f.lose(loss);
  assert.equal(signal().reason, loss);
  await settle();
  assert.match(f.events[0]!, /^warn:DRAIN_TIMEOUT:.*the lease is gone/);
  assert.equal(f.events[1], 'released');
  assert.equal(ended, false, 'the term lasts until the work returned (nothing starts anew before)');
  step.resolve();
  await settle();
  assert.equal(ended, true);
});

test('a hold already lost when granted: the work starts with its signal aborting at once', async () => {
  const f = fixture();
  f.lose(new LeadershipLostError('gone'));
  const seen: boolean[] = [];
  const term = new WorkTerm(
    f.runtime,
    f.rules,
    f.held,
    async (_h, signal) => {
      await tick();
      seen.push(signal.aborted);
    },
    () => {},
  );
  assert.equal((await term.ended).kind, 'lost');
  assert.deepEqual(seen, [true]);
});

test('Observable work: emits, is unsubscribed only once the key is gone after a drain timeout', async () => {
  const f = fixture();
  const order: string[] = [];
  const work = () =>
    new Observable<number>((subscriber) => {
      subscriber.next(1);
      return () => order.push('unsubscribed');
    });
  const term = new WorkTerm(f.runtime, f.rules, f.held, work, (v) => order.push(`next:${v}`));
  void term.drain('drained', 'unsubscribed');
  await settle();
  mock.timers.tick(1_000);
  await term.ended;
  assert.deepEqual(
    [...order, ...f.events.map((e) => e.split(':')[0])],
    ['next:1', 'unsubscribed', 'warn', 'released'],
  );
  assert.ok(f.events.indexOf('released') > 0, 'released after the overrun was reported');
});

test('whileHolding: requeue after a loss while waiting and after etcd was unreachable (with backoff); closing completes', async () => {
  const f = fixture();
  const outcomes: unknown[] = [
    new LeadershipLostError('lost while waiting'),
    new NotConnectedError('unreachable'),
    new ClosedError('closed'),
  ];
  let attempts = 0;
  const acquire = async () => {
    attempts++;
    throw outcomes.shift();
  };
  const log: string[] = [];
  whileHolding(f.runtime, { ...f.rules, acquire }, async () => 1, {
    marginMs: 500,
    drainTimeoutMs: 1_000,
    requeue: true,
  }).subscribe({
    error: (err: unknown) => log.push(`error:${String(err)}`),
    complete: () => log.push('complete'),
  });
  await settle();
  assert.equal(attempts, 2, 'a loss while waiting: straight back into the queue');
  mock.timers.tick(999);
  await settle();
  assert.equal(attempts, 2, 'unreachable: waits the reconnect backoff');
  mock.timers.tick(1);
  await settle();
  assert.equal(attempts, 3);
  assert.deepEqual(log, ['complete'], 'the Concord closing completes it');
});

test('whileHolding without requeue: a wait error errors; unsubscribing aborts the wait; a late grant is released', async () => {
  const f = fixture();
  const lost = new LeadershipLostError('lost while waiting');
  const log: string[] = [];
  const settings = { marginMs: 500, drainTimeoutMs: 1_000, requeue: false };
  whileHolding(
    f.runtime,
    { ...f.rules, acquire: () => Promise.reject(lost) },
    async () => 1,
    settings,
  ).subscribe({
    error: (err: unknown) => log.push(err === lost ? 'error:lost' : 'error:other'),
  });
  await settle();
  assert.deepEqual(log, ['error:lost']);

  const grant = manual<ScopedHold>();
  let waitSignal!: AbortSignal;
  const acquire = (signal: AbortSignal) => {
    waitSignal = signal;
    return grant.promise;
  };
  let ran = false;
  const subscription = whileHolding(
    f.runtime,
    { ...f.rules, acquire },
    async () => (ran = true),
    settings,
  ).subscribe();
  subscription.unsubscribe();
  assert.ok(waitSignal.aborted);
  grant.resolve(f.held);
  await settle();
  assert.equal(ran, false);
  assert.deepEqual(f.events, ['released']);
});
