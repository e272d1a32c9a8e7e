// `concord-etcd lock` when the lock is lost: its lease revoked from outside, its host cut off
// from etcd (a blackholing proxy), or the tool itself SIGKILLed. In every case the holder's CMD
// must be gone BEFORE the next holder's CMD starts; the margin is measured and reported.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, afterEach, test } from 'node:test';
import { promisify } from 'node:util';
import { type CliProcess, cleanupCli, startCli } from '../support/cli.js';
import { resolveEtcdctlBinary } from '../support/etcd-binary.js';
import { useCluster } from '../support/fixture.js';
import { processGone, waitUntil } from '../support/wait.js';

// A hang fails the test (and its after hooks kill the bins) instead of stalling the run.
const TEST_TIMEOUT_MS = 120_000;

const shared = useCluster({ proxy: true });
after(cleanupCli);
afterEach(() => shared.proxy.restore());

// A short lease keeps the tests short: SIGTERM 1.5 s before the local deadline, SIGKILL 0.5 s later.
const TTL = ['--ttl', '4', '--grace', '500'];

function cmd(tag: string, body: string): string[] {
  const start = `printf '{"cmd":"start","tag":"%s","pid":%d,"t":%s}\\n' '${tag}' $$ "$(date +%s%3N)"`;
  return ['sh', '-c', `${start}; ${body}`];
}

function lock(endpoint: string, tag: string, body: string): Promise<CliProcess> {
  return startCli(['lock', 'loss', '--json', ...TTL, '--endpoints', endpoint, '--', ...cmd(tag, body)]);
}

const direct = () => shared.cluster.endpoints[0]!;

/** A holder with its CMD running and a second tool queued behind it. */
async function holderAndWaiter(holderEndpoint: string, holderBody: string) {
  const holder = await lock(holderEndpoint, 'holder', holderBody);
  const holderStart = await holder.waitJson((j) => j.cmd === 'start', { timeoutMs: 15_000 });
  const waiter = await lock(direct(), 'waiter', 'exit 0');
  await waitUntil(async () => (await shared.cluster.client().getAll().prefix('loss/').keys()).length === 2, {
    message: 'the waiter queued',
  });
  return { holder, holderPid: Number(holderStart.pid), waiter };
}

/** Asserts the holder's CMD ended before the waiter's started; returns the margin in ms. */
async function marginBetween(holderCmdEnded: number, waiter: CliProcess): Promise<number> {
  const start = await waiter.waitJson((j) => j.cmd === 'start', { timeoutMs: 20_000 });
  const margin = Number(start.t) - holderCmdEnded;
  assert.ok(margin > 0, `the next holder's CMD started ${-margin} ms BEFORE the lost holder's CMD ended`);
  assert.equal((await waiter.exit()).code, 0);
  return margin;
}

test('lease revoked from outside: CMD gets SIGTERM at once, the tool exits 120, before the next CMD starts', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { holder, holderPid, waiter } = await holderAndWaiter(direct(), 'exec sleep 60');
  const acquired = await holder.waitJson((j) => j.type === 'acquired', { stream: 'stderr' });
  const leaseHex = /\/([0-9a-f]+)-\d+$/.exec(String(acquired.key))![1]!;
  const died = processGone(holderPid);
  await promisify(execFile)(resolveEtcdctlBinary(), ['--endpoints', direct(), 'lease', 'revoke', leaseHex]);
  const terminating = await holder.waitJson((j) => j.type === 'terminating', { stream: 'stderr' });
  assert.equal(terminating.reason, 'lost');
  assert.equal((await holder.exit()).code, 120);
  const margin = await marginBetween(await died, waiter);
  t.diagnostic(`revoked: the next CMD started ${margin} ms after the lost holder's CMD ended`);
});

test('cut off from etcd: CMD is killed (SIGTERM ignored, SIGKILL after --grace) before etcd expires the lease', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  // The CMD ignores SIGTERM: only the SIGKILL, 1 s before the local deadline, ends it.
  const { holder, holderPid, waiter } = await holderAndWaiter(
    shared.proxy.endpoint,
    `trap '' TERM; sleep 60`,
  );
  const died = processGone(holderPid);
  const cutAt = Date.now();
  shared.proxy.blackhole();
  const terminating = await holder.waitJson((j) => j.type === 'terminating', {
    stream: 'stderr',
    timeoutMs: 10_000,
  });
  assert.equal(terminating.reason, 'budget');
  const ended = await died;
  const exit = await holder.exit(15_000);
  assert.equal(exit.code, 120);
  const margin = await marginBetween(ended, waiter);
  t.diagnostic(
    `cut off: CMD killed ${ended - cutAt} ms after the cut (TTL 4 s); the next CMD started ${margin} ms later; the tool exited ${exit.at - cutAt} ms after the cut`,
  );
});

test('the tool SIGKILLed: its guard ends CMD before the lease can expire and the next CMD starts', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { holder, holderPid, waiter } = await holderAndWaiter(direct(), `trap '' TERM; sleep 60`);
  const died = processGone(holderPid);
  const killedAt = Date.now();
  holder.kill('SIGKILL');
  const ended = await died;
  const margin = await marginBetween(ended, waiter);
  t.diagnostic(
    `tool SIGKILLed: its CMD ended ${ended - killedAt} ms later (grace 500 ms); the next CMD started ${margin} ms after that`,
  );
});
