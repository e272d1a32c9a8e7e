// `concord-etcd elect` under faults: three tools campaign, the leader's tool is SIGKILLed, and the
// next leader starts CMD only after the killed leader's CMD is gone (its guard ends it before the
// lease can expire); with --requeue a leader that lost its lease campaigns again and runs CMD
// again once re-elected.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { type CliProcess, cleanupCli, startCli } from '../support/cli.js';
import { resolveEtcdctlBinary } from '../support/etcd-binary.js';
import { useCluster } from '../support/fixture.js';
import { processGone, waitUntil } from '../support/wait.js';

// A hang fails the test (and its after hooks kill the bins) instead of stalling the run.
const TEST_TIMEOUT_MS = 120_000;

const shared = useCluster();
after(cleanupCli);

function cmd(tag: string, body = 'exec sleep 60'): string[] {
  const start = `printf '{"cmd":"start","tag":"%s","pid":%d,"t":%s}\\n' '${tag}' $$ "$(date +%s%3N)"`;
  return ['sh', '-c', `${start}; ${body}`];
}

function elect(name: string, tag: string, ...flags: string[]): Promise<CliProcess> {
  return startCli([
    'elect',
    name,
    '--json',
    '--value',
    tag,
    '--ttl',
    '4',
    '--grace',
    '500',
    ...flags,
    '--endpoints',
    shared.cluster.endpoints.join(','),
    '--',
    ...cmd(tag),
  ]);
}

const starts = (cli: CliProcess) => cli.json().filter((j) => j.cmd === 'start');

async function candidates(name: string): Promise<number> {
  return (await shared.cluster.client().getAll().prefix(`election/${name}/`).keys()).length;
}

test('three tools, the leader SIGKILLed: its CMD ends before the next leader starts CMD', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const tools = [await elect('trio', 'a'), await elect('trio', 'b'), await elect('trio', 'c')];
  await waitUntil(async () => (await candidates('trio')) === 3, {
    timeoutMs: 15_000,
    message: 'three candidates',
  });
  await waitUntil(() => tools.some((tool) => starts(tool).length === 1), {
    timeoutMs: 15_000,
    message: 'a leader running CMD',
  });
  const leader = tools.find((tool) => starts(tool).length === 1)!;
  const others = tools.filter((tool) => tool !== leader);
  assert.ok(
    others.every((tool) => starts(tool).length === 0),
    'only the leader runs CMD',
  );

  const died = processGone(Number(starts(leader)[0]!.pid));
  const killedAt = Date.now();
  leader.kill('SIGKILL');
  const ended = await died;
  await waitUntil(() => others.some((tool) => starts(tool).length === 1), {
    timeoutMs: 20_000,
    message: 'the next leader',
  });
  const next = others.find((tool) => starts(tool).length === 1)!;
  const margin = Number(starts(next)[0]!.t) - ended;
  assert.ok(margin > 0, `the next leader's CMD started ${-margin} ms before the killed leader's CMD ended`);
  assert.equal(starts(others.find((tool) => tool !== next)!).length, 0, 'the third still waits');
  t.diagnostic(
    `leader tool SIGKILLed: its CMD ended ${ended - killedAt} ms later, the next CMD started ${margin} ms after that`,
  );

  for (const tool of others) tool.kill('SIGTERM');
  const codes = await Promise.all(others.map(async (tool) => (await tool.exit()).code));
  assert.deepEqual(
    codes.sort(),
    [143, 143],
    'CMD ended by the forwarded SIGTERM; the waiter stopped waiting',
  );
  await waitUntil(async () => (await candidates('trio')) === 0, { message: 'every candidate gone' });
});

test('--requeue: a leader whose lease is revoked stops CMD, campaigns again and runs CMD again when re-elected', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const first = await elect('requeue', 'first', '--requeue');
  await waitUntil(() => starts(first).length === 1, { timeoutMs: 15_000, message: 'first leads' });
  const second = await elect('requeue', 'second');
  await waitUntil(async () => (await candidates('requeue')) === 2, { message: 'second queued' });

  const elected = first.json('stderr').find((j) => j.type === 'elected')!;
  const leaseHex = /\/([0-9a-f]+)-\d+$/.exec(String(elected.key))![1]!;
  await promisify(execFile)(resolveEtcdctlBinary(), [
    '--endpoints',
    shared.cluster.endpoints[0]!,
    'lease',
    'revoke',
    leaseHex,
  ]);
  await first.waitJson((j) => j.type === 'requeue', { stream: 'stderr', timeoutMs: 15_000 });
  await waitUntil(() => starts(second).length === 1, { timeoutMs: 15_000, message: 'second leads' });
  assert.equal(starts(first).length, 1, 'first waits behind second now');

  second.kill('SIGTERM');
  assert.equal((await second.exit()).code, 143);
  await waitUntil(() => starts(first).length === 2, { timeoutMs: 15_000, message: 'first leads again' });
  assert.ok(
    BigInt(String(first.json('stderr').filter((j) => j.type === 'elected')[1]!.term)) >
      BigInt(String(elected.term)),
  );
  first.kill('SIGTERM');
  assert.equal((await first.exit()).code, 143);
});
