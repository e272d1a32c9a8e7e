// Cleanup: nothing concord opened outlives close(), on the server or in the process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Concord } from '../../src/concord.js';
import { ClosedError } from '../../src/errors.js';
import { useCluster } from '../support/fixture.js';
import { freePort } from '../support/wait.js';
import { spawnWorker } from '../support/worker.js';
import { collect, waitGauges } from './helpers.js';

const WORKER = fileURLToPath(new URL('./fixtures/exit-after-close.ts', import.meta.url));

const shared = useCluster();

/** Runs the worker in `mode` and resolves with how long after `closed` the process took to exit. */
async function exitDelay(
  mode: string,
  endpoints: string,
): Promise<{ exitMs: number; messages: Record<string, unknown>[] }> {
  const worker = spawnWorker(WORKER, { args: [mode], env: { ETCD_ENDPOINTS: endpoints } });
  try {
    const closed = await worker.waitFor((m) => m.type === 'closed', 20_000);
    const exited = await Promise.race([
      worker.exited.then((code) => ({ code })),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
    ]);
    assert.ok(exited, `worker (${mode}) still running 10 s after close():\n${worker.stderr()}`);
    assert.equal(exited.code, 0, worker.stderr());
    const exitMs = Date.now() - Number(closed.closedAt);
    // Exiting takes tens of ms, up to 1 s when etcd3 closes a channel that is still connecting
    // (it waits that long for it); a pause close() forgot would hold the process for 8 s.
    assert.ok(exitMs < 3_000, `worker (${mode}) exited ${exitMs} ms after close()`);
    return { exitMs, messages: worker.all() };
  } finally {
    await worker.kill();
  }
}

test('unsubscribing everything, then close(): no server-side watcher left and the process exits by itself', async (t) => {
  await waitGauges(shared.cluster.members[0]!, { watchers: 0, streams: 0 });
  const { exitMs, messages } = await exitDelay('unsubscribe-then-close', shared.cluster.endpoints.join(','));
  const watching = messages.find((m) => m.type === 'watching');
  // The view joins the watch the plain subscribers already share: one server-side watch.
  assert.deepEqual(watching?.stats, { streams: 1, upstreamWatches: 1, subscribers: 3 });
  const released = messages.find((m) => m.type === 'released');
  assert.deepEqual(released?.stats, { streams: 0, upstreamWatches: 0, subscribers: 0 });
  t.diagnostic(`exited ${exitMs} ms after close()`);
  await waitGauges(shared.cluster.members[0]!, { watchers: 0, streams: 0 });
});

test('close() with live subscriptions releases them all and the process exits by itself', async () => {
  await exitDelay('close-while-subscribed', shared.cluster.endpoints.join(','));
  await waitGauges(shared.cluster.members[0]!, { watchers: 0, streams: 0 });
});

test('close() while etcd is unreachable leaves no reconnect or retry timer behind', async () => {
  const nobody = `127.0.0.1:${await freePort()}`;
  await exitDelay('close-while-unreachable', nobody);
});

test('close() completes every subscriber; later calls fail with ClosedError', async () => {
  const concord = new Concord({ endpoints: shared.cluster.endpoints });
  const watched = collect(concord.watch({ prefix: 'cl/' }));
  const notYetSubscribed = concord.watch({ prefix: 'cl/' });
  let viewCompleted = false;
  concord.view({ prefix: 'cl/' }).subscribe({ complete: () => (viewCompleted = true) });
  const iterator = concord.watchIterator({ prefix: 'cl/' });
  await concord.close();
  assert.equal(watched.completed, true);
  assert.equal(viewCompleted, true);
  assert.deepEqual(await iterator.next(), { done: true, value: undefined });
  assert.equal(collect(notYetSubscribed).completed, true);
  assert.throws(() => concord.watch({ prefix: 'cl/' }), ClosedError);
  assert.throws(() => concord.view({ prefix: 'cl/' }), ClosedError);
  assert.throws(() => concord.watchIterator({ prefix: 'cl/' }), ClosedError);
  await waitGauges(shared.cluster.members[0]!, { watchers: 0, streams: 0 });
});
