// A live view whose path to etcd is blackholed says so ({"type":"connection","state":
// "disconnected"}), says so again when the path is back, and goes on with no change missed.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cleanupCli, startCli } from '../support/cli.js';
import { useCluster } from '../support/fixture.js';

// A hang fails the test (and its after hooks kill the bins) instead of stalling the run.
const TEST_TIMEOUT_MS = 120_000;

const shared = useCluster({ proxy: true });
after(cleanupCli);

test('watch through a blackholed path: disconnected, connected again, and every change after it', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const client = shared.cluster.client();
  const cli = await startCli(['watch', 'conn/', '--endpoints', shared.proxy.endpoint]);
  await cli.waitJson((j) => j.type === 'watching');
  await client.put('conn/before').value('1');
  await cli.waitJson((j) => j.key === 'conn/before');

  const cutAt = Date.now();
  shared.proxy.blackhole();
  const down = await cli.waitLine(
    (l) => l.json?.type === 'connection' && l.json.state === 'disconnected',
    15_000,
  );
  await client.put('conn/during').value('2');
  shared.proxy.restore();
  const up = await cli.waitLine((l) => l.json?.type === 'connection' && l.json.state === 'connected', 15_000);
  await client.put('conn/after').value('3');
  await cli.waitJson((j) => j.key === 'conn/after', { timeoutMs: 15_000 });
  assert.deepEqual(
    cli
      .json()
      .filter((j) => j.type === 'put')
      .map((j) => j.key),
    ['conn/before', 'conn/during', 'conn/after'],
    'the change made while cut off arrives once, in order',
  );
  t.diagnostic(
    `disconnected reported ${down.at - cutAt} ms after the blackhole; connected ${up.at - down.at} ms later`,
  );
  cli.kill('SIGINT');
  assert.equal((await cli.exit()).code, 0);
});
