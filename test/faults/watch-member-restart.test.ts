// No gaps, no duplicates while the only etcd member is SIGKILLed and restarted on its data.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { sleep } from '../support/wait.js';
import { runSequence } from '../watch/sequence.js';

let cluster: EtcdCluster;
before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster?.stop();
});

test('5,000 values, the single member killed and restarted twice: each value seen once, in order; the view matches etcd', async (t) => {
  const member = cluster.members[0]!;
  let restarts = 0;
  const report = await runSequence({
    options: { endpoints: cluster.endpoints },
    writer: cluster.client(),
    reader: cluster.client(),
    prefix: 'seq/',
    count: 5_000,
    onWritten: async (i) => {
      if (i === 1_500 || i === 3_500) {
        await member.kill();
        await sleep(300);
        await member.start();
        restarts++;
      }
    },
  });
  t.diagnostic(JSON.stringify({ restarts, ...report }));
  assert.equal(restarts, 2);
  assert.ok(report.interruptions >= 2, `${report.interruptions} interruptions for 2 kills`);
});
