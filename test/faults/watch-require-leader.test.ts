// The hub's watch stream carries etcd's "require leader" flag: a member that loses its raft leader
// cancels the stream instead of keeping it open while it can deliver nothing, and once the cluster
// has a leader again the watch resumes with nothing lost or repeated.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord, type KvEvent } from 'concord-etcd';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';

const shared = useCluster({ size: 3 });

test('a member without a leader cancels the watch stream; the watch resumes gap-free when quorum is back', async () => {
  const [m0, m1, m2] = shared.cluster.members as [
    (typeof shared.cluster.members)[0],
    (typeof shared.cluster.members)[0],
    (typeof shared.cluster.members)[0],
  ];
  const lines: string[] = [];
  const concord = new Concord({
    endpoints: [m0.endpoint],
    callTimeoutMs: 1_000,
    logger: { warn: (message, fields) => lines.push(`${message} ${JSON.stringify(fields ?? {})}`) },
  });
  const seen: string[] = [];
  const sub = concord.watch({ prefix: 'hl/' }).subscribe((batch) => {
    if (batch.type === 'events') seen.push(...batch.events.map((e: KvEvent) => e.kv.value.toString()));
  });
  try {
    await waitUntil(() => concord.watchStats().upstreamWatches === 1, {
      timeoutMs: 5_000,
      message: 'watch created',
    });
    await shared.cluster.client().put('hl/a').value('1');
    await waitUntil(() => seen.length === 1, { timeoutMs: 5_000, message: 'first value' });

    // m0 alone has no quorum: it loses its leader (or steps down) and, with the flag, etcd
    // cancels streams that require one after a few election timeouts.
    await Promise.all([m1.stop(), m2.stop()]);
    await waitUntil(
      () => lines.some((l) => l.startsWith('watch stream interrupted') && /no leader/i.test(l)),
      {
        timeoutMs: 15_000,
        message: 'the watch stream cancelled for lack of a leader',
      },
    );

    await Promise.all([m1.start(), m2.start()]);
    await shared.cluster.waitHealthy(15_000);
    await waitUntil(
      async () => {
        try {
          await shared.cluster.client().put('hl/b').value('2');
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 15_000, message: 'a write after quorum is back' },
    );
    await shared.cluster.client().put('hl/c').value('3');
    await waitUntil(() => seen.length >= 3, { timeoutMs: 15_000, message: 'values after recovery' });
    assert.deepEqual(seen, ['1', '2', '3']);
  } finally {
    sub.unsubscribe();
    await concord.close();
  }
});
