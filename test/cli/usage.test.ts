// The bin's command line itself: --help on every command, one-line errors and exit code 2 for
// bad usage, and an unreachable etcd reported within a few seconds with exit code 121 (a closed
// port, and a server that accepts connections but never answers).
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { COMMANDS } from '../../src/cli/app.js';
import { cleanupCli, runCli } from '../support/cli.js';
import { freePort } from '../support/wait.js';

// A hang fails the test (and its after hooks kill the bins) instead of stalling the run.
const TEST_TIMEOUT_MS = 120_000;

after(cleanupCli);

/** `run` over `items`, three at a time: a few processes side by side, not a dozen on two cores. */
async function inBatches<T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += 3)
    results.push(...(await Promise.all(items.slice(i, i + 3).map(run))));
  return results;
}

test('--help on every command: exit 0, its usage, flags and the connection flags', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const runs = await inBatches(COMMANDS, (c) => runCli([...c.spec.name.split(' '), '--help']));
  for (const [i, run] of runs.entries()) {
    const { name } = COMMANDS[i]!.spec;
    assert.equal(run.code, 0, `${name} --help: ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^Usage: concord-etcd ${name}`), name);
    for (const flag of [
      '--endpoints LIST',
      '--namespace PREFIX',
      '--cacert FILE',
      '--user NAME',
      '--help, -h',
    ]) {
      assert.ok(run.stdout.includes(flag), `${name} --help names ${flag}`);
    }
    const widest = Math.max(...run.stdout.split('\n').map((line) => line.length));
    assert.ok(widest <= 92, `${name} --help fits 92 columns (widest line: ${widest})`);
    assert.equal(run.stderr, '', name);
  }
});

test('top-level help lists every command, the environment and the exit codes; no command is a usage error', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const [help, none, unknown, version] = await Promise.all([
    runCli(['--help']),
    runCli([]),
    runCli(['lokc', 'x']),
    runCli(['--version']),
  ]);
  const [group, groupHelp] = await Promise.all([runCli(['config']), runCli(['config', '--help'])]);
  assert.equal(group.code, 2);
  assert.equal(group.stderr, 'concord-etcd: config: say which: config get, config watch, config set');
  assert.equal(groupHelp.code, 0);
  assert.match(groupHelp.stdout, /^concord-etcd config get PREFIX[\s\S]*config set PREFIX PATH JSON/);
  assert.equal(help.code, 0);
  for (const command of COMMANDS) assert.match(help.stdout, new RegExp(`\\n  ${command.spec.name} `));
  assert.match(
    help.stdout,
    /ETCD_ENDPOINTS[\s\S]*CONCORD_PASSWORD[\s\S]*Exit codes:[\s\S]*120[\s\S]*121[\s\S]*122/,
  );
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^concord-etcd /);
  assert.equal(unknown.code, 2);
  assert.equal(
    unknown.stderr,
    "concord-etcd: unknown command 'lokc' (commands: lock, elect, watch, leader, locks, services, config get, config watch, config set, status; see concord-etcd --help)",
  );
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n?$/);
});

// Each kind of mistake once through the bin (src/cli/args.test.ts covers the parser in depth).
test('bad usage: one line on stderr, exit 2, before anything connects', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  // The endpoint is closed: reaching it would fail with 121, not 2.
  const closed = ['--endpoints', `127.0.0.1:${await freePort()}`];
  const cases: [string[], RegExp][] = [
    [
      ['lock', 'jobs', '--ttl', '0', '--', 'true'],
      /^lock: --ttl must be an integer from 2 to 1000000 \(got '0'\)$/,
    ],
    [
      ['lock', 'jobs', '--ttl', '4', '--', 'true'],
      /^lock: --grace plus 1000 ms must be at most half the TTL \(2000 ms with --ttl 4\)/,
    ],
    [['lock', 'jobs', 'true'], /^lock: unexpected argument 'true' \(put the command to run after '--'\)$/],
    [
      ['watch', 'a/', '--from-revision', '0'],
      /^watch: --from-revision must be a revision \(an integer >= 1\)/,
    ],
    [['elect', 'e', '--valeu', 'x', '--', 'true'], /^elect: unknown option --valeu$/],
    [['locks', 'a/b'], /^locks: NAME must be one key segment/],
    [['config', 'set', 'app', 'x', 'billing'], /^config set: JSON is not valid JSON/],
    [['status', '--user', 'alice:secret'], /^status: --user takes the user name only/],
    [['status', '--cert', '/nonexistent.pem'], /^status: --cert needs --key too$/],
    [
      ['status', '--cacert', '/nonexistent/ca.pem'],
      /^status: --cacert names a file that cannot be read \(ENOENT\) \(got '\/nonexistent\/ca.pem'\)$/,
    ],
  ];
  const runs = await inBatches(cases, ([args]) => {
    const end = args.indexOf('--');
    return runCli(end < 0 ? [...args, ...closed] : [...args.slice(0, end), ...closed, ...args.slice(end)]);
  });
  for (const [i, run] of runs.entries()) {
    const [args, message] = cases[i]!;
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    const lines = run.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `${args.join(' ')}: one line, got ${run.stderr}`);
    assert.match(lines[0]!.replace(/^concord-etcd: /, ''), message, args.join(' '));
    assert.equal(run.stdout, '');
  }
});

test('an unreachable etcd: exit 121 with a clear message within a few seconds, never a hang', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const refused = `127.0.0.1:${await freePort()}`;
  // Accepts connections and never answers: only a deadline can tell.
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  try {
    const started = Date.now();
    const [closed, blackholed, lock] = await Promise.all([
      runCli(['watch', 'a/', '--endpoints', refused]),
      runCli(['status', '--endpoints', `127.0.0.1:${port}`, '--connect-timeout', '1000']),
      runCli(['lock', 'jobs', '--endpoints', `127.0.0.1:${port}`, '--connect-timeout', '1000', '--', 'true']),
    ]);
    const elapsed = Date.now() - started;
    assert.equal(closed.code, 121, closed.stderr);
    assert.match(closed.stderr, new RegExp(`^concord-etcd: connecting to ${refused}: etcd is not reachable`));
    assert.equal(blackholed.code, 121, blackholed.stderr);
    assert.equal(blackholed.stderr, `concord-etcd: etcd at 127.0.0.1:${port} did not answer within 1000 ms`);
    assert.equal(lock.code, 121, lock.stderr);
    assert.match(lock.stderr, /did not answer within 1000 ms/);
    t.diagnostic(`three unreachable runs side by side ended after ${elapsed} ms`);
  } finally {
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});
