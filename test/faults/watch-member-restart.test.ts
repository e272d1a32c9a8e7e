// No gaps, no duplicates while the only etcd member is SIGKILLed and restarted on its data.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useCluster } from '../support/fixture.js';
import { sleep } from '../support/wait.js';
import { runSequence } from '../watch/sequence.js';

const shared = useCluster();

test('5,000 values, the single member killed and restarted twice: each value seen once, in order; the view matches etcd', async (t) => {
  const member = shared.cluster.members[0]!;
  let restarts = 0;
  const report = await runSequence({
    options: { endpoints: shared.cluster.endpoints },
    writer: shared.cluster.client(),
    reader: shared.cluster.client(),
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
