// No gaps, no duplicates while the client's connections are cut 10 times mid-stream.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';
import { runSequence } from '../watch/sequence.js';

let cluster: EtcdCluster;
let proxy: TcpProxy;
before(async () => {
  cluster = await startCluster();
  proxy = await startProxy(cluster.endpoints[0]!);
});
after(async () => {
  await proxy?.close();
  await cluster?.stop();
});

test('5,000 values, 10 cuts of the client connection: each value seen once, in order; the view matches etcd', async (t) => {
  let cuts = 0;
  const report = await runSequence({
    options: { endpoints: [proxy.endpoint] },
    writer: cluster.client(),
    reader: cluster.client(),
    prefix: 'seq/',
    count: 5_000,
    onWritten: (i) => {
      if (i % 500 === 250) {
        proxy.cut();
        cuts++;
      }
    },
  });
  t.diagnostic(JSON.stringify({ cuts, ...report }));
  assert.equal(cuts, 10);
  assert.ok(report.interruptions >= 10, `${report.interruptions} interruptions for 10 cuts`);
});
