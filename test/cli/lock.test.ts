// `concord-etcd lock` and `elect` as an operator runs them, against a real etcd: CMD's environment
// and exit code, mutual exclusion with a second tool, a library mutex and `etcdctl lock`, signal
// forwarding, a cancelled wait, CMD not found, and `elect` handing over when CMD exits.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { type CliProcess, cleanupCli, runCli, startCli } from '../support/cli.js';
import { resolveEtcdctlBinary } from '../support/etcd-binary.js';
import { useCluster } from '../support/fixture.js';
import { trackChild } from '../support/processes.js';
import { sleep, waitUntil } from '../support/wait.js';

// A hang fails the test (and its after hooks kill the bins) instead of stalling the run.
const TEST_TIMEOUT_MS = 120_000;

const shared = useCluster({ concord: {} });
after(cleanupCli);

function endpoints(): string[] {
  return ['--endpoints', shared.cluster.endpoints.join(',')];
}

/**
 * A CMD that prints one JSON line (its tag, CONCORD_KEY, CONCORD_FENCING_TOKEN, its pid and the
 * time in ms) and then does `then`.
 */
function cmd(tag: string, then = 'exec sleep 60', before = ''): string[] {
  const start = `printf '{"cmd":"start","tag":"%s","key":"%s","token":"%s","pid":%d,"t":%s}\\n' '${tag}' "$CONCORD_KEY" "$CONCORD_FENCING_TOKEN" $$ "$(date +%s%3N)"`;
  return ['sh', '-c', `${before}${start}; ${then}`];
}

function lock(name: string, command: string[], ...flags: string[]): Promise<CliProcess> {
  return startCli(['lock', name, '--json', ...flags, ...endpoints(), '--', ...command]);
}

/** The tool's own event `type` (a JSON line on its stderr). */
function waitEvent(cli: CliProcess, type: string): Promise<Record<string, unknown>> {
  return cli.waitJson((j) => j.type === type, { stream: 'stderr', timeoutMs: 15_000 });
}

async function keysUnder(prefix: string): Promise<string[]> {
  return shared.cluster.client().getAll().prefix(prefix).keys();
}

test('runs CMD with CONCORD_KEY (namespace included) and CONCORD_FENCING_TOKEN, exits with its code, releases', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const run = await runCli([
    'lock',
    'job-env',
    '--json',
    '--namespace',
    'ns1/',
    ...endpoints(),
    '--',
    ...cmd('env', 'exit 7'),
  ]);
  assert.equal(run.code, 7, run.stderr);
  const started = run.lines.find((l) => l.json?.cmd === 'start')!.json!;
  const acquired = run.lines.find((l) => l.json?.type === 'acquired')!.json!;
  assert.match(String(started.key), /^ns1\/job-env\/[0-9a-f]+-\d+$/);
  assert.equal(started.key, `ns1/${acquired.key}`);
  assert.equal(started.token, acquired.token);
  assert.match(String(started.token), /^\d+$/);
  const [put] = (await shared.cluster.client().getAll().prefix('ns1/job-env/').exec()).kvs;
  assert.equal(put, undefined, 'released');
  assert.deepEqual(
    run.lines.filter((l) => l.stream === 'stderr').map((l) => l.json?.type),
    ['waiting', 'acquired', 'started', 'exited', 'released'],
  );
});

test('a second lock waits until the first CMD has exited; SIGTERM to the tool is forwarded to CMD', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const first = await lock('job-two', cmd('first'));
  await first.waitJson((j) => j.cmd === 'start');
  const second = await lock('job-two', cmd('second', 'exit 0'));
  await waitEvent(second, 'waiting');
  await waitUntil(async () => (await keysUnder('job-two/')).length === 2, { message: 'second in the queue' });
  await sleep(300);
  assert.equal(
    second.json().find((j) => j.cmd === 'start'),
    undefined,
    'the second CMD waits',
  );

  first.kill('SIGTERM');
  const forwarded = await waitEvent(first, 'forwarded');
  assert.equal(forwarded.signal, 'SIGTERM');
  const firstExit = await first.exit();
  assert.equal(firstExit.code, 143, 'sleep ended by the forwarded SIGTERM: 128 + 15');
  const exited = await waitEvent(first, 'exited');
  const secondStart = await second.waitJson((j) => j.cmd === 'start', { timeoutMs: 15_000 });
  assert.ok(
    Number(secondStart.t) >= Date.parse(String(exited.time)),
    'the second CMD started after the first ended',
  );
  assert.equal((await second.exit()).code, 0);
  assert.deepEqual(await keysUnder('job-two/'), []);
});

test('excludes a library mutex both ways', { timeout: TEST_TIMEOUT_MS }, async () => {
  const mutex = shared.concord.mutex('job-lib');
  const held = await mutex.lock();
  const tool = await lock('job-lib', cmd('tool', 'exit 3'));
  await waitUntil(async () => (await keysUnder('job-lib/')).length === 2);
  await sleep(300);
  assert.equal(
    tool.json().find((j) => j.cmd === 'start'),
    undefined,
    'the tool waits for the library holder',
  );
  const releasedAt = Date.now();
  await held.release();
  const start = await tool.waitJson((j) => j.cmd === 'start', { timeoutMs: 15_000 });
  assert.ok(Number(start.t) >= releasedAt);
  assert.equal((await tool.exit()).code, 3);

  const holder = await lock('job-lib', cmd('holder'));
  await holder.waitJson((j) => j.cmd === 'start');
  assert.equal(await mutex.tryLock(), undefined, 'the library cannot take the lock the tool holds');
  holder.kill('SIGINT');
  assert.equal((await holder.exit()).code, 130);
  const after = await mutex.tryLock();
  assert.ok(after, 'free once the tool released it');
  await after.release();
});

/** `etcdctl lock NAME [CMD]`: its stdout lines (the key when it acquires, then CMD's output). */
function etcdctlLock(name: string, ...command: string[]): { child: ChildProcess; lines: string[] } {
  const child = spawn(
    resolveEtcdctlBinary(),
    ['--endpoints', shared.cluster.endpoints.join(','), 'lock', name, ...command],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  trackChild(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  return { child, lines };
}

test('excludes etcdctl lock both ways (Go concurrency.Mutex keys under the same name)', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const go = etcdctlLock('job-ctl');
  await waitUntil(() => go.lines.length > 0, { timeoutMs: 10_000, message: 'etcdctl lock acquired' });
  const tool = await lock('job-ctl', cmd('tool', 'exit 0'));
  await waitEvent(tool, 'waiting');
  await waitUntil(async () => (await keysUnder('job-ctl/')).length === 2);
  await sleep(300);
  assert.equal(
    tool.json().find((j) => j.cmd === 'start'),
    undefined,
    'the tool waits behind etcdctl',
  );
  go.child.kill('SIGINT');
  await tool.waitJson((j) => j.cmd === 'start', { timeoutMs: 15_000 });
  assert.equal((await tool.exit()).code, 0);

  const holder = await lock('job-ctl', cmd('holder'));
  await holder.waitJson((j) => j.cmd === 'start');
  const waiting = etcdctlLock('job-ctl', 'echo', 'etcdctl-ran');
  await waitUntil(async () => (await keysUnder('job-ctl/')).length === 2);
  await sleep(300);
  assert.deepEqual(waiting.lines, [], 'etcdctl waits behind the tool');
  holder.kill('SIGTERM');
  await holder.exit();
  await waitUntil(() => waiting.lines.includes('etcdctl-ran'), { timeoutMs: 10_000, message: 'etcdctl ran' });
});

test('SIGINT while waiting cancels the wait (exit 130) and takes the key out of the queue', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const mutex = shared.concord.mutex('job-cancel');
  const held = await mutex.lock();
  const tool = await lock('job-cancel', cmd('never'));
  await waitUntil(async () => (await keysUnder('job-cancel/')).length === 2);
  tool.kill('SIGINT');
  const exit = await tool.exit();
  assert.equal(exit.code, 130);
  assert.equal(
    tool.json().find((j) => j.cmd === 'start'),
    undefined,
  );
  assert.deepEqual(await keysUnder('job-cancel/'), [held.key]);
  await held.release();
});

test('a CMD that handles SIGINT: the tool exits with its code once it is done, then releases', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const tool = await lock(
    'job-trap',
    // The trap is set before the start line: the test signals as soon as it sees that line.
    cmd('trap', 'while :; do sleep 0.1; done', `trap 'echo {\\"cmd\\":\\"got-int\\"}; exit 5' INT; `),
  );
  await tool.waitJson((j) => j.cmd === 'start');
  tool.kill('SIGINT');
  await tool.waitJson((j) => j.cmd === 'got-int');
  assert.equal((await tool.exit()).code, 5);
  assert.deepEqual(await keysUnder('job-trap/'), []);
});

test('CMD not found: exit 127, lock released', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = await runCli(['lock', 'job-missing', ...endpoints(), '--', 'no-such-command-concord']);
  assert.equal(run.code, 127, run.stderr);
  assert.deepEqual(await keysUnder('job-missing/'), []);
});

test('elect: CMD runs while leader; when it exits the tool resigns and the next candidate runs its CMD', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const elect = (tag: string, then: string) =>
    startCli(['elect', 'cli-elect', '--json', '--value', tag, ...endpoints(), '--', ...cmd(tag, then)]);
  const a = await elect('a', 'sleep 2; exit 4');
  await a.waitJson((j) => j.cmd === 'start', { timeoutMs: 15_000 });
  const b = await elect('b', 'exit 0');
  await waitEvent(b, 'campaigning');
  const aExit = await a.exit();
  assert.equal(aExit.code, 4);
  const bStart = await b.waitJson((j) => j.cmd === 'start', { timeoutMs: 15_000 });
  assert.match(String(bStart.key), /^election\/cli-elect\/[0-9a-f]+-\d+$/);
  const aStart = a.json().find((j) => j.cmd === 'start')!;
  assert.ok(BigInt(String(bStart.token)) > BigInt(String(aStart.token)), 'a later term');
  assert.equal((await b.exit()).code, 0);
});
