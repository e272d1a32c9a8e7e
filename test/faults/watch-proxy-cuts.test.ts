// No gaps, no duplicates while the client's connections are cut 10 times mid-stream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useCluster } from '../support/fixture.js';
import { runSequence } from '../watch/sequence.js';

const shared = useCluster({ proxy: true });

test('5,000 values, 10 cuts of the client connection: each value seen once, in order; the view matches etcd', async (t) => {
  let cuts = 0;
  const report = await runSequence({
    options: { endpoints: [shared.proxy.endpoint] },
    writer: shared.cluster.client(),
    reader: shared.cluster.client(),
    prefix: 'seq/',
    count: 5_000,
    onWritten: (i) => {
      if (i % 500 === 250) {
        shared.proxy.cut();
        cuts++;
      }
    },
  });
  t.diagnostic(JSON.stringify({ cuts, ...report }));
  assert.equal(cuts, 10);
  assert.ok(report.interruptions >= 10, `${report.interruptions} interruptions for 10 cuts`);
});
