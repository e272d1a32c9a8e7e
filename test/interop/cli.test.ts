// The bin's `elect --layout go` and `leader --layout go` against etcd's Go client (`etcdctl elect`,
// Go's concurrency.Election): one leadership shared by both tools, in campaign order.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cleanupCli, runCli, startCli } from '../support/cli.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';
import { etcdctlOf, queue } from './helpers.js';

const TEST_TIMEOUT_MS = 120_000;

const shared = useCluster({ concord: {} });
const etcdctl = etcdctlOf(shared);
after(cleanupCli);

const endpoints = () => ['--endpoints', shared.cluster.endpoints.join(',')];

test('elect --layout go queues behind a Go leader and runs CMD once it resigns; leader --layout go names the Go leader', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const name = 'interop-cli-elect';
  const go = etcdctl('elect', name, 'go-leader');
  await go.printed(1);
  const view = await runCli(['leader', name, '--layout', 'go', '--once', '--json', ...endpoints()]);
  assert.equal(view.code, 0, view.stderr);
  const seen = JSON.parse(view.stdout.trim().split('\n')[0]!) as { leader: { key: string; value: string } };
  assert.equal(seen.leader.value, 'go-leader');
  assert.match(seen.leader.key, new RegExp(`^${name}/[0-9a-f]+$`));

  const printKey = `printf '{"cmd":"start","key":"%s","token":"%s"}\\n' "$CONCORD_KEY" "$CONCORD_FENCING_TOKEN"`;
  const cli = await startCli([
    'elect',
    name,
    '--layout',
    'go',
    '--json',
    '--value',
    'concord',
    ...endpoints(),
    '--',
    'sh',
    '-c',
    printKey,
  ]);
  await waitUntil(async () => (await queue(shared, `${name}/`)).length === 2, {
    message: 'concord queued behind Go',
  });
  assert.equal(cli.json().length, 0, 'CMD waits while Go leads');
  assert.equal(await go.stop('SIGTERM'), 0);
  const start = await cli.waitJson((j) => j.cmd === 'start', { timeoutMs: 15_000 });
  assert.match(String(start.key), new RegExp(`^${name}/[0-9a-f]+$`), "Go's key layout");
  assert.equal((await cli.exit()).code, 0);
  assert.deepEqual(await queue(shared, `${name}/`), [], 'resigned');
});

test('--layout takes etcd3 or go only (exit 2, nothing written)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await runCli(['elect', 'e', '--layout', 'Go', ...endpoints(), '--', 'true']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--layout must be etcd3 or go, not 'Go'/);
  assert.deepEqual(await queue(shared, 'e/'), []);
});
