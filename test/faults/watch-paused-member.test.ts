// A hung member (SIGSTOP: connections open, nothing answers) carrying the watch stream: the hub
// notices within its stall timeout and resumes on another member, losing nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EtcdCluster, type EtcdMember, startCluster } from '../support/etcd.js';
import { waitUntil } from '../support/wait.js';
import { runSequence } from '../watch/sequence.js';

let cluster: EtcdCluster;
before(async () => {
  cluster = await startCluster({ size: 3 });
});
after(async () => {
  for (const m of cluster?.members ?? []) if (m.paused) m.resume();
  await cluster?.stop();
});

test('1,000 values while the member serving the watch stream hangs: each value seen once, in order', async (t) => {
  // The hub may use m0 or m1; the writer goes through m2, which keeps a quorum with the other one.
  const [m0, m1, m2] = cluster.members as [EtcdMember, EtcdMember, EtcdMember];
  let paused: EtcdMember | undefined;
  let pausedAt = 0;
  const report = await runSequence({
    options: { endpoints: [m0.endpoint, m1.endpoint], watch: { stallTimeoutMs: 1_000 } },
    writer: m2.client(),
    reader: m2.client(),
    prefix: 'hang/',
    count: 1_000,
    onWritten: async (i) => {
      if (i !== 200) return;
      let host: EtcdMember | undefined;
      await waitUntil(async () => {
        for (const m of [m0, m1])
          if ((await m.metric('etcd_debugging_mvcc_watch_stream_total')) > 0) host = m;
        return host !== undefined;
      });
      host!.pause();
      paused = host;
      pausedAt = Date.now();
    },
    timeoutMs: 20_000,
  });
  const finishedAfterHangMs = Date.now() - pausedAt;
  t.diagnostic(JSON.stringify({ paused: paused?.name, finishedAfterHangMs, ...report }));
  assert.ok(paused?.paused, 'the member stayed hung throughout');
  assert.ok(report.interruptions >= 1);
});
