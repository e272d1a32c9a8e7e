// StallDetector with mock timers: progress requests from half the timeout on, a reset at the timeout.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { IWatchRequest } from 'etcd3';
import type { DropMode } from '../etcd/reconnecting-stream.js';
import { StallDetector } from './stall.js';

function harness(timeoutMs: number) {
  const written: IWatchRequest[] = [];
  const failures: { message: string; mode: DropMode | undefined }[] = [];
  const detector = new StallDetector(
    {
      write: (request) => written.push(request) > 0,
      fail: (err, mode) => failures.push({ message: (err as Error).message, mode }),
    },
    timeoutMs,
  );
  return { detector, written, failures };
}

beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 }));
afterEach(() => mock.timers.reset());

test('asks for progress at half the timeout and every quarter after, resets the stream at the timeout', () => {
  const h = harness(1_000);
  h.detector.start();
  mock.timers.tick(250);
  assert.deepEqual(h.written, []);
  mock.timers.tick(250);
  assert.deepEqual(h.written, [{ progress_request: {} }]);
  mock.timers.tick(250);
  assert.equal(h.written.length, 2, 'asked again: etcd may have dropped the first request');
  assert.deepEqual(h.failures, []);
  mock.timers.tick(250);
  assert.deepEqual(h.failures, [{ message: 'watch stream silent for 1000 ms', mode: 'reset' }]);
});

test('every answer starts the silence over', () => {
  const h = harness(1_000);
  h.detector.start();
  for (let i = 0; i < 10; i++) {
    mock.timers.tick(250);
    h.detector.heard();
  }
  assert.deepEqual(h.written, []);
  mock.timers.tick(500);
  assert.equal(h.written.length, 1);
  h.detector.heard();
  mock.timers.tick(500);
  assert.equal(h.written.length, 2, 'a new silence asks again');
  assert.deepEqual(h.failures, []);
});

test('stop() leaves no timer; a short timeout is checked at least every 25 ms', () => {
  const h = harness(60);
  h.detector.start();
  mock.timers.tick(25);
  assert.equal(h.written.length, 0);
  mock.timers.tick(25);
  assert.equal(h.written.length, 1);
  h.detector.stop();
  mock.timers.tick(10_000);
  assert.deepEqual(h.failures, []);
});
