// Which etcd versions answer progress requests in order, and StreamProgress with mock timers.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { IWatchRequest, IWatchResponse } from 'etcd3';
import { Log } from '../core/log.js';
import type { WatchServer } from '../etcd/watch-stream.js';
import { answersProgressInOrder, StreamProgress } from './progress.js';
import { StreamWatches } from './stream-watches.js';
import { Upstream } from './upstream.js';

test('answersProgressInOrder: 3.4.25+, 3.5.8+, 3.6+; anything else (or unparsable) is old', () => {
  for (const v of [
    '3.4.25',
    '3.4.31',
    '3.5.8',
    '3.5.16',
    '3.5.30',
    '3.6.0',
    '3.6.0-rc.1',
    '3.10.2',
    '4.0.0',
  ]) {
    assert.equal(answersProgressInOrder(v), true, v);
  }
  for (const v of ['3.4.23', '3.4.24', '3.5.0', '3.5.7', '3.3.27', '2.3.8', '', 'unknown', 'v3.5.16']) {
    assert.equal(answersProgressInOrder(v), false, v);
  }
});

beforeEach(() => mock.timers.enable({ apis: ['setInterval'] }));
afterEach(() => mock.timers.reset());

function harness(intervalMs = 100) {
  const written: IWatchRequest[] = [];
  const progress = new StreamProgress((r) => written.push(r) > 0, intervalMs, new Log(undefined, []));
  return { progress, written };
}

const server = (memberId: string, version: string): Promise<WatchServer> =>
  Promise.resolve({ memberId, version });

test('ordered only once the stream member and its status agree on a new enough member', async () => {
  const h = harness();
  h.progress.start(server('7', '3.5.16'));
  await Promise.resolve();
  assert.equal(h.progress.ordered, false, 'no response heard yet: which member serves the stream is unknown');
  h.progress.heard('7');
  assert.equal(h.progress.ordered, true);
  mock.timers.tick(250);
  assert.deepEqual(h.written, [{ progress_request: {} }, { progress_request: {} }]);
  h.progress.stop();
  mock.timers.tick(1_000);
  assert.equal(h.written.length, 2, 'stop() leaves no timer');
  assert.equal(h.progress.ordered, false);
});

test('not ordered: an old member, another member answering the status, or no status at all', async () => {
  for (const [facts, member] of [
    [server('7', '3.4.23'), '7'],
    [server('8', '3.5.16'), '7'],
    [Promise.resolve(undefined), '7'],
  ] as const) {
    const h = harness();
    h.progress.start(facts);
    h.progress.heard(member);
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(h.progress.ordered, false);
    mock.timers.tick(1_000);
    assert.deepEqual(h.written, []);
  }
});

test('a status that answers after the stream was replaced is ignored', async () => {
  const h = harness();
  let answer!: (s: WatchServer) => void;
  h.progress.start(new Promise((resolve) => (answer = resolve)));
  h.progress.stop();
  h.progress.start(server('9', '3.4.23'));
  h.progress.heard('9');
  answer({ memberId: '9', version: '3.5.16' });
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(h.progress.ordered, false);
});

test('an ordered answer moves only created watches with no half-received fragments', async () => {
  const h = harness(0);
  h.progress.start(server('7', '3.5.16'));
  h.progress.heard('7');
  await Promise.resolve();
  assert.equal(h.progress.ordered, true);
  mock.timers.tick(10_000);
  assert.deepEqual(h.written, [], 'interval 0: no requests');

  const watches = new StreamWatches();
  const seen = new Map<string, bigint[]>();
  const upstream = (name: string) => {
    const up = new Upstream({ key: Buffer.from(name) }, false, undefined, 5n);
    seen.set(name, []);
    up.add({
      from: 5n,
      next: (b) => seen.get(name)!.push(b.revision),
      error: () => undefined,
      complete: () => undefined,
    });
    watches.add(up);
    return up;
  };
  const created = upstream('created');
  upstream('pending');
  const fragmented = upstream('fragmented');
  for (const up of [created, fragmented])
    watches.route({ created: true, watch_id: up.watchId } as IWatchResponse);
  fragmented.onEvents(
    { strip: (k: Buffer) => k.toString() } as never,
    [{ type: 'Put', kv: { mod_revision: '8' } } as never],
    true,
  );
  const answer = {
    watch_id: '-1',
    events: [],
    created: false,
    header: { revision: '10' },
  } as unknown as IWatchResponse;
  h.progress.answered(answer, watches);
  assert.deepEqual(Object.fromEntries(seen), { created: [10n], pending: [], fragmented: [] });
  h.progress.answered({ ...answer, watch_id: '3' } as IWatchResponse, watches);
  assert.deepEqual(seen.get('created'), [10n], 'only watch id -1 answers every watch');
});
