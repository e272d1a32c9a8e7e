// Config rollouts against a real etcd with each config instance in its own process: a change
// applied everywhere, a change one instance's schema rejects, a fix, an instance started after
// the change, and status keys kept out of every config value. (An instance killed mid-rollout,
// and 20 instances measured: test/faults/config-rollout.test.ts.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Subscription } from 'rxjs';
import { Concord } from '../../src/concord.js';
import type { RolloutStatus } from '../../src/config/types.js';
import { isConcordError, RolloutRejectedError } from '../../src/errors.js';
import { cleanupAfterEach } from '../support/cleanup.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';
import type { Worker } from '../support/worker.js';
import { ready, spawnInstance } from './fixtures/instances.js';

const NS = 'rollout-test/';
const TTL = 2;

const shared = useCluster();
let seq = 0;
const cleanup = cleanupAfterEach();

function writer(): Concord {
  const concord = new Concord({ endpoints: shared.cluster.endpoints, namespace: NS });
  cleanup.push(() => concord.close());
  return concord;
}

/** Starts config instance `id` on `prefix` in its own process; `maxPool` is what its schema allows. */
function instance(prefix: string, id: string, maxPool = 100): Worker {
  const setup = { endpoints: shared.cluster.endpoints, namespace: NS, prefix, ttl: TTL };
  const worker = spawnInstance(setup, id, maxPool);
  cleanup.push(() => worker.kill());
  return worker;
}

/** Every status `rollout$(revision)` emits, in order. */
function record(concord: Concord, prefix: string, revision: bigint): RolloutStatus[] {
  const seen: RolloutStatus[] = [];
  const subscription: Subscription = concord
    .config(prefix)
    .rollout$(revision)
    .subscribe((s) => seen.push(s));
  cleanup.push(() => subscription.unsubscribe());
  return seen;
}

const names = (status: RolloutStatus) => ({
  applied: [...status.applied],
  rejected: status.rejected.map((r) => r.instance),
  pending: [...status.pending],
});

describe('config rollout', () => {
  test('a change reaches every instance; one a schema rejects names that instance; a fix applies everywhere', async (t) => {
    const prefix = `app${++seq}/`;
    const workers = [instance(prefix, 'a'), instance(prefix, 'b'), instance(prefix, 'c', 50)];
    await ready(workers);
    const config = writer().config(prefix);
    // All three known (they report their first read), so none can be missed as unknown.
    await config.rolledOut(1n, { instances: 3, signal: AbortSignal.timeout(20_000) });

    // A valid change: every instance applies it.
    const start = performance.now();
    const { revision: good } = await config.set('db/pool', 20);
    const status = await config.rolledOut(good, { signal: AbortSignal.timeout(20_000) });
    t.diagnostic(
      `first write → 3 instances acknowledged (the writer's first set, cold): ${(performance.now() - start).toFixed(1)} ms`,
    );
    assert.deepEqual(names(status), { applied: ['a', 'b', 'c'], rejected: [], pending: [] });
    for (const w of workers)
      await w.waitFor((m) => m.type === 'value' && JSON.stringify(m.value).includes('"pool":20'));

    // A change instance c's schema (pool <= 50) rejects: c keeps pool 20 and says why.
    const { revision: bad } = await config.set('db/pool', 80);
    const seen = record(writer(), prefix, bad);
    await assert.rejects(config.rolledOut(bad, { signal: AbortSignal.timeout(20_000) }), (err: unknown) => {
      assert.ok(err instanceof RolloutRejectedError && isConcordError(err, 'ROLLOUT_REJECTED'));
      assert.equal(err.revision, bad);
      assert.deepEqual(
        err.rejected.map((r) => r.instance),
        ['c'],
      );
      assert.match(err.message, /rejected by instance c \(db\.pool: /);
      return true;
    });
    await waitUntil(() => seen.at(-1)?.pending.length === 0, {
      message: 'every instance reported',
      timeoutMs: 20_000,
    });
    const last = seen.at(-1)!;
    assert.deepEqual(names(last), { applied: ['a', 'b'], rejected: ['c'], pending: [] });
    assert.equal(last.rejected[0]!.revision, bad);
    assert.equal(last.rejected[0]!.key, 'db/pool');
    assert.match(last.rejected[0]!.issues.join(), /db\.pool: /);
    // Statuses only ever move forward: nobody leaves `applied` or `rejected` for `pending`.
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.pending.length <= seen[i - 1]!.pending.length);
    const rejected = await workers[2]!.waitFor((m) => m.type === 'rejected');
    assert.equal(rejected.revision, String(bad));

    // A fix in one transaction (one revision): c applies the newer revision, which supersedes the bad one.
    const { revision: fix } = await config.setMany({ 'db/pool': 30, 'db/host': 'db2' });
    const fixed = await config.rolledOut(fix, { instances: 3, signal: AbortSignal.timeout(20_000) });
    assert.deepEqual(names(fixed), { applied: ['a', 'b', 'c'], rejected: [], pending: [] });
    await waitUntil(() => seen.at(-1)?.applied.includes('c') === true, {
      message: 'c applied a revision after the bad one',
    });

    // An instance started after the change reports the revision of its first read at once.
    const late = instance(prefix, 'd');
    await ready([late]);
    const withLate = await config.rolledOut(fix, { instances: 4, signal: AbortSignal.timeout(20_000) });
    assert.deepEqual(names(withLate).applied, ['a', 'b', 'c', 'd']);

    // Status keys never show in a config's value: not the writer's, not the whole keyspace's.
    const everything = writer().config('');
    const value = await everything.load();
    assert.ok(prefix.slice(0, -1) in value, 'the whole keyspace holds the config');
    assert.ok(!JSON.stringify(value).includes('config-status'), JSON.stringify(value));
    assert.ok(!JSON.stringify(await config.load()).includes('config-status'));
    for (const w of [...workers, late]) {
      for (const m of w.all()) assert.ok(!JSON.stringify(m).includes('config-status'), JSON.stringify(m));
    }
  });
});
