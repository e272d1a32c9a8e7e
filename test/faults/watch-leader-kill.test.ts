// No gaps, no duplicates while the raft leader of a 3-member cluster is killed (twice), the
// first time while it also carries the hub's watch stream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EtcdMember } from '../support/etcd.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';
import { runSequence } from '../watch/sequence.js';

const shared = useCluster({ size: 3 });

/** The member serving the hub's watch stream (nothing else in this test watches). */
async function streamHost(): Promise<EtcdMember> {
  let host: EtcdMember | undefined;
  await waitUntil(
    async () => {
      for (const member of shared.cluster.members.filter((m) => m.running)) {
        if ((await member.metric('etcd_debugging_mvcc_watch_stream_total')) > 0) host = member;
      }
      return host !== undefined;
    },
    { message: 'a member serving the watch stream' },
  );
  return host!;
}

/** Makes `target` the raft leader (no-op when it already is). */
async function makeLeader(target: EtcdMember): Promise<void> {
  const leader = await shared.cluster.leader();
  if (leader === target) return;
  const status = await target.client().maintenance.status();
  await leader.client().maintenance.moveLeader({ targetID: status.header.member_id });
  await waitUntil(async () => (await shared.cluster.leader()) === target, {
    message: `${target.name} leading`,
  });
}

test('5,000 values, the raft leader killed twice: each value seen once, in order; the view matches etcd', async (t) => {
  const killed: string[] = [];
  const report = await runSequence({
    options: { endpoints: shared.cluster.endpoints },
    writer: shared.cluster.client(),
    reader: shared.cluster.client(),
    prefix: 'seq/',
    count: 5_000,
    onWritten: async (i) => {
      if (i === 1_500) {
        const host = await streamHost();
        await makeLeader(host);
        await host.kill();
        killed.push(`${host.name} (leader, watch stream)`);
      }
      // Bring the first victim back, so the second kill still leaves a quorum.
      if (i === 2_500) await shared.cluster.members.find((m) => !m.running)!.start();
      if (i === 3_500) {
        const leader = await shared.cluster.leader();
        await leader.kill();
        killed.push(`${leader.name} (leader)`);
      }
    },
    timeoutMs: 30_000,
  });
  t.diagnostic(JSON.stringify({ killed, ...report }));
  assert.equal(killed.length, 2);
  assert.ok(report.interruptions >= 1, 'the stream broke when its member died');
});
