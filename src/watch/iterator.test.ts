// BoundedIterator with a fake attach and a fake read: its buffer bound and overflow policies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClosedError, SlowConsumerError } from '../errors.js';
import { BoundedIterator } from './iterator.js';
import type { RangeSnapshot } from './range.js';
import type { WatchBatch } from './types.js';
import type { Sink } from './upstream.js';

const events = (revision: number): WatchBatch => ({ type: 'events', revision: BigInt(revision), events: [] });

/** What the iterator's batches look like in assertions: `events 3`, `resync 7`. */
const show = (result: IteratorResult<WatchBatch>): string =>
  result.done ? 'done' : `${result.value.type} ${result.value.revision}`;

function harness(maxBuffered: number, overflow: 'resync' | 'error') {
  let sink: Sink | undefined;
  let detached = 0;
  const reads: { signal: AbortSignal; resolve(revision: number): void; reject(err: Error): void }[] = [];
  const iterator = new BoundedIterator(
    (s) => {
      sink = s;
      return () => detached++;
    },
    (signal) =>
      new Promise<RangeSnapshot>((resolve, reject) =>
        reads.push({
          signal,
          resolve: (revision) => resolve({ revision: BigInt(revision), entries: new Map(), pages: 1 }),
          reject,
        }),
      ),
    5n,
    maxBuffered,
    overflow,
  );
  const push = (...revisions: number[]) => {
    for (const revision of revisions) sink?.next(events(revision));
  };
  return { iterator, push, reads, sink: () => sink, detached: () => detached };
}

test('batches come out in order; a waiting next() gets the next batch directly', async () => {
  const h = harness(3, 'resync');
  assert.equal(h.sink()?.from, 5n);
  h.push(5, 6);
  assert.equal(h.iterator.buffered, 2);
  assert.equal(show(await h.iterator.next()), 'events 5');
  assert.equal(show(await h.iterator.next()), 'events 6');
  const waiting = h.iterator.next();
  h.push(7);
  assert.equal(show(await waiting), 'events 7');
  assert.equal(h.iterator.buffered, 0);
});

test("overflow 'resync': the buffer is dropped and the next batch is a fresh read, then only newer batches", async () => {
  const h = harness(2, 'resync');
  h.push(5, 6, 7);
  assert.equal(h.iterator.buffered, 1, 'the full buffer was dropped, the newest batch kept');
  const next = h.iterator.next();
  assert.equal(h.reads.length, 1);
  h.push(8, 9);
  h.reads[0]?.resolve(8);
  assert.equal(show(await next), 'resync 8');
  assert.equal(show(await h.iterator.next()), 'events 9', 'batches covered by the read are skipped');
  h.push(8, 10);
  assert.equal(show(await h.iterator.next()), 'events 10', 'a late batch the read covered is ignored');
  assert.equal(h.reads.length, 1);
  assert.equal(h.detached(), 0, 'the watch stays attached');
});

test("overflow 'resync' while reading: a read older than what was dropped is followed by another", async () => {
  const h = harness(1, 'resync');
  h.push(5, 6);
  const first = h.iterator.next();
  h.push(7, 8);
  h.reads[0]?.resolve(6);
  assert.equal(show(await first), 'resync 6');
  const second = h.iterator.next();
  assert.equal(h.reads.length, 2, 'revision 7 overflowed after the read started');
  h.reads[1]?.resolve(8);
  assert.equal(show(await second), 'resync 8');
});

test("overflow 'error': the watch is released at once; buffered batches, then SlowConsumerError", async () => {
  const h = harness(2, 'error');
  h.push(5, 6, 7);
  assert.equal(h.detached(), 1);
  h.push(8);
  assert.equal(show(await h.iterator.next()), 'events 5');
  assert.equal(show(await h.iterator.next()), 'events 6');
  await assert.rejects(h.iterator.next(), SlowConsumerError);
  await assert.rejects(h.iterator.next(), SlowConsumerError, 'it stays failed');
});

test('a failed re-read ends the iterator with its error and releases the watch', async () => {
  const h = harness(1, 'resync');
  h.push(5, 6);
  const next = h.iterator.next();
  h.reads[0]?.reject(new Error('denied'));
  await assert.rejects(next, /denied/);
  assert.equal(h.detached(), 1);
  await assert.rejects(h.iterator.next(), /denied/);
});

test('return() releases the watch, aborts a re-read and ends iteration', async () => {
  const h = harness(1, 'resync');
  h.push(5, 6);
  const next = h.iterator.next();
  const read = h.reads[0];
  await h.iterator.return();
  assert.equal(h.detached(), 1);
  assert.ok(read?.signal.aborted);
  assert.ok(read?.signal.reason instanceof ClosedError);
  read?.reject(read.signal.reason as Error);
  assert.equal(show(await next), 'done', 'a read cut short by the end reports the end');
  assert.equal(show(await h.iterator.next()), 'done');
  h.push(9);
  assert.equal(h.iterator.buffered, 0, 'nothing is buffered after the end');
});

test('the watch completing or failing ends the iterator; a waiting next() settles', async () => {
  const completed = harness(3, 'resync');
  const waiting = completed.iterator.next();
  completed.sink()?.complete();
  assert.equal(show(await waiting), 'done');
  assert.equal(completed.detached(), 1);

  const failed = harness(3, 'resync');
  failed.push(5);
  const pending = failed.iterator.next();
  failed.sink()?.error(new Error('gone'));
  assert.equal(show(await pending), 'events 5');
  await assert.rejects(failed.iterator.next(), /gone/);
});
