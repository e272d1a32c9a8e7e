// ReconnectingStream with fake streams and mock timers: which stream is current, when it
// reconnects and how long it waits, how streams are let go.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { ExponentialBackoff, noJitterGenerator } from 'cockatiel';
import { ReconnectingStream, type StreamOwner } from './reconnecting-stream.js';

/** A bidi stream that records what is done to it; the test emits its events. */
class FakeStream extends EventEmitter {
  readonly written: string[] = [];
  ended = false;
  cancelled = false;

  write(request: string): void {
    this.written.push(request);
  }
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.cancelled = true;
  }
}

interface Opening {
  resolve(stream: FakeStream): void;
  reject(err: Error): void;
}

/** Lets pending promise callbacks run (setImmediate is not mocked). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness(options: { refuse?: boolean } = {}) {
  const openings: Opening[] = [];
  const reports: boolean[] = [];
  const warnings: Record<string, unknown>[] = [];
  const seen: string[] = [];
  let wanted = true;
  const owner: StreamOwner<string> = {
    wanted: () => wanted,
    opened: () => seen.push('opened'),
    data: (response) => seen.push(`data ${response}`),
    dropped: () => seen.push('dropped'),
    failed: (err) => {
      seen.push(`failed ${(err as Error).message}`);
      return !options.refuse;
    },
  };
  const context = {
    reconnectBackoff: new ExponentialBackoff({
      initialDelay: 100,
      maxDelay: 1000,
      generator: noJitterGenerator,
    }),
    monitor: { report: (reachable: boolean) => reports.push(reachable) },
    log: { warn: (_message: string, fields?: Record<string, unknown>) => warnings.push(fields ?? {}) },
  };
  const stream = new ReconnectingStream<string, string>(
    context,
    'test stream',
    () => new Promise<FakeStream>((resolve, reject) => openings.push({ resolve, reject })),
    owner,
  );
  /** Resolves the oldest pending open with a new fake stream and lets the callbacks run. */
  const accept = async (): Promise<FakeStream> => {
    const fake = new FakeStream();
    const opening = openings.shift();
    assert.ok(opening, 'an open is pending');
    opening.resolve(fake);
    await settle();
    return fake;
  };
  return {
    stream,
    openings,
    reports,
    warnings,
    seen,
    accept,
    setWanted: (value: boolean) => {
      wanted = value;
    },
  };
}

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

test('opens one stream while wanted, routes its data and writes to it', async () => {
  const h = harness();
  assert.equal(h.stream.write('early'), false, 'nothing to write to yet');
  h.stream.connect();
  h.stream.connect();
  assert.equal(h.openings.length, 1, 'one open at a time');
  const fake = await h.accept();
  assert.equal(h.stream.isOpen, true);
  assert.deepEqual(h.seen, ['opened']);
  fake.emit('data', 'a');
  assert.deepEqual(h.seen, ['opened', 'data a']);
  assert.equal(h.stream.write('req'), true);
  assert.deepEqual(fake.written, ['req']);
  h.stream.connect();
  assert.equal(h.openings.length, 0, 'an open stream is not opened again');
});

test('an error or an end reconnects after the backoff delay, which grows until a response', async () => {
  const h = harness();
  h.stream.connect();
  const first = await h.accept();
  first.emit('error', new Error('boom'));
  assert.equal(h.stream.isOpen, false);
  assert.deepEqual(h.seen.slice(1), ['dropped', 'failed boom']);
  assert.deepEqual(h.reports, [false]);
  assert.equal(h.warnings[0]?.retryInMs, 100);
  assert.equal(first.ended && first.cancelled, true, 'the failed stream is let go');
  h.stream.connect();
  assert.equal(h.openings.length, 0, 'no open while a reconnect is pending');
  mock.timers.tick(99);
  assert.equal(h.openings.length, 0);
  mock.timers.tick(1);
  assert.equal(h.openings.length, 1);
  const second = await h.accept();
  second.emit('end');
  assert.match(String(h.seen.at(-1)), /failed etcd ended the test stream/);
  assert.equal(h.warnings[1]?.retryInMs, 200, 'the delay grows without a response');
  mock.timers.tick(200);
  const third = await h.accept();
  h.stream.responded();
  assert.deepEqual(h.reports, [false, false, true]);
  third.emit('error', new Error('again'));
  assert.equal(h.warnings[2]?.retryInMs, 100, 'a response restarts the backoff');
  assert.equal(h.stream.retryDelayMs, 200);
});

test('a failed open is retried with the backoff', async () => {
  const h = harness();
  h.stream.connect();
  h.openings.shift()?.reject(new Error('refused'));
  await settle();
  assert.deepEqual(h.seen, ['dropped', 'failed refused']);
  mock.timers.tick(100);
  assert.equal(h.openings.length, 1);
});

test('callbacks of a stream that is no longer current are ignored', async () => {
  const h = harness();
  h.stream.connect();
  const old = await h.accept();
  old.emit('error', new Error('first'));
  mock.timers.tick(100);
  const current = await h.accept();
  const before = [...h.seen];
  old.emit('data', 'stale');
  old.emit('error', new Error('stale'));
  old.emit('end');
  assert.deepEqual(h.seen, before, 'nothing from the old stream counts');
  assert.equal(h.stream.isOpen, true);
  current.emit('data', 'fresh');
  assert.equal(h.seen.at(-1), 'data fresh');
});

test('a stream that opens when it is no longer wanted is ended and not kept', async () => {
  const h = harness();
  h.stream.connect();
  h.setWanted(false);
  const late = await h.accept();
  assert.equal(late.ended && late.cancelled, true);
  assert.equal(h.stream.isOpen, false);
  assert.deepEqual(h.seen, [], 'the owner never sees it');
  assert.equal(h.openings.length, 0, 'and nothing else is opened');
});

test('stopped and wanted again while opening: the late stream is ended and a new one opened', async () => {
  const h = harness();
  h.stream.connect();
  h.stream.stop();
  h.stream.connect();
  assert.equal(h.openings.length, 1, 'the first open is still pending');
  const late = await h.accept();
  assert.equal(late.ended && late.cancelled, true);
  assert.equal(h.openings.length, 1, 'the newer need gets its own open');
  await h.accept();
  assert.equal(h.stream.isOpen, true);
});

test("fail() lets the stream go by 'end' (half-close, then cancel) or 'reset' (cancel while writable)", async () => {
  const h = harness();
  h.stream.connect();
  const ended = await h.accept();
  h.stream.fail(new Error('unanswered'));
  assert.deepEqual([ended.ended, ended.cancelled], [true, true]);
  mock.timers.tick(100);
  const reset = await h.accept();
  h.stream.fail(new Error('silent'), 'reset');
  assert.deepEqual([reset.ended, reset.cancelled], [false, true]);
  // etcd3 reports the reset stream's error later: it must not be an unhandled 'error' event.
  reset.emit('error', new Error('cancelled'));
  assert.equal(h.seen.filter((s) => s.startsWith('failed')).length, 2);
  h.stream.fail(new Error('no stream'));
  assert.equal(h.seen.filter((s) => s.startsWith('failed')).length, 2, 'no stream open: nothing to fail');
});

test('an owner that refuses a failure gets no reconnect and no disconnected report', async () => {
  const h = harness({ refuse: true });
  h.stream.connect();
  const fake = await h.accept();
  fake.emit('error', new Error('permission denied'));
  mock.timers.tick(10_000);
  assert.equal(h.openings.length, 0);
  assert.deepEqual(h.reports, []);
});

test('a failure after which the owner wants no stream schedules no reconnect', async () => {
  const h = harness();
  h.stream.connect();
  const fake = await h.accept();
  h.setWanted(false);
  fake.emit('error', new Error('boom'));
  h.setWanted(true);
  mock.timers.tick(10_000);
  assert.equal(h.openings.length, 0);
});

test('stop() and close() release the stream and the pending reconnect', async () => {
  const h = harness();
  h.stream.connect();
  const first = await h.accept();
  h.stream.stop();
  assert.deepEqual([first.ended, first.cancelled], [true, true]);
  h.stream.connect();
  const second = await h.accept();
  second.emit('error', new Error('boom'));
  h.stream.stop();
  mock.timers.tick(10_000);
  assert.equal(h.openings.length, 0, 'stop() cancelled the reconnect');
  h.stream.connect();
  const third = await h.accept();
  third.emit('error', new Error('boom'));
  h.stream.close();
  mock.timers.tick(10_000);
  h.stream.connect();
  assert.equal(h.openings.length, 0, 'closed: nothing is opened again');
  assert.equal(h.stream.isOpen, false);
});

test('close() while opening ends the stream when it arrives', async () => {
  const h = harness();
  h.stream.connect();
  h.stream.close();
  const late = await h.accept();
  assert.deepEqual([late.ended, late.cancelled], [true, true]);
  assert.equal(h.openings.length, 0);
  assert.equal(h.stream.isOpen, false);
});
