// The live views of the concord-etcd bin, run as child processes against a real etcd: their
// --json lines are parsed and checked against what the library and plain etcd clients did.
// Every view is ended with SIGINT and must exit 0 by itself (no "still open" forced exit).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Leadership, LockHandle } from 'concord-etcd';
import type { Subscription } from 'rxjs';
import { type CliProcess, cleanupCli, runCli, startCli } from '../support/cli.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';

// A hang fails the test (and its after hooks kill the bins) instead of stalling the run.
const TEST_TIMEOUT_MS = 120_000;

const shared = useCluster({ concord: {} });
after(cleanupCli);

function endpoints(): string[] {
  return ['--endpoints', shared.cluster.endpoints.join(',')];
}

function view(...args: string[]): Promise<CliProcess> {
  return startCli([...args, ...endpoints()]);
}

/** SIGINT: the view releases everything and the process exits 0 by itself. */
async function stop(cli: CliProcess): Promise<void> {
  cli.kill('SIGINT');
  const { code, signal } = await cli.exit(10_000);
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, cli.text('stderr'));
  assert.doesNotMatch(cli.text('stderr'), /still open/);
}

const isType = (type: string) => (json: Record<string, unknown>) => json.type === type;

describe('watch', () => {
  test('prints puts and deletes in revision order, bigints as decimal strings, binary values as base64', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const client = shared.cluster.client();
    const cli = await view('watch', 'w1/', '--prev-kv');
    const watching = await cli.waitJson(isType('watching'));
    assert.equal(watching.prefix, 'w1/');
    assert.match(String(watching.revision), /^\d+$/);
    const put = await client.put('w1/a').value('one').exec();
    await client.put('w1/bin').value(Buffer.from([0xff, 0x00, 0xfe]));
    await client.delete().key('w1/a');
    const deleted = await cli.waitJson(isType('delete'));
    const [first, binary] = cli.json().filter(isType('put'));
    assert.deepEqual(first, {
      type: 'put',
      revision: put.header.revision,
      key: 'w1/a',
      value: 'one',
      createRevision: put.header.revision,
      modRevision: put.header.revision,
      version: '1',
      lease: '0',
    });
    assert.equal(binary!.valueBase64, Buffer.from([0xff, 0x00, 0xfe]).toString('base64'));
    assert.equal(binary!.value, undefined);
    assert.equal(deleted.key, 'w1/a');
    assert.equal(
      (deleted.prev as Record<string, unknown>).value,
      'one',
      'with --prev-kv a delete carries prev',
    );
    const revisions = cli
      .json()
      .filter((j) => j.type !== 'watching')
      .map((j) => BigInt(String(j.revision)));
    assert.deepEqual(
      revisions,
      [...revisions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    await stop(cli);
  });

  test('--from-revision behind a compaction starts with a resync line holding the whole prefix', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const client = shared.cluster.client();
    const start = await client.put('w2/a').value('1').exec();
    await client.put('w2/b').value('2');
    await client.delete().key('w2/a');
    await shared.cluster.compact();
    const cli = await view('watch', 'w2/', '--from-revision', start.header.revision);
    const resync = await cli.waitJson(isType('resync'));
    assert.match(String(resync.compactRevision), /^\d+$/);
    const keys = resync.keys as Record<string, unknown>[];
    assert.deepEqual(
      keys.map((k) => [k.key, k.value]),
      [['w2/b', '2']],
    );
    await client.put('w2/c').value('3');
    const live = await cli.waitJson((j) => j.type === 'put' && j.key === 'w2/c');
    assert.ok(BigInt(String(live.revision)) > BigInt(String(resync.revision)));
    await stop(cli);
  });
});

test('leader: initial, elected, proclaimed, and the next leader with how long the previous one held', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const election = shared.concord.election('cli-leader');
  const cli = await view('leader', 'cli-leader');
  const initial = await cli.waitJson(isType('leader'));
  assert.deepEqual(initial, {
    type: 'leader',
    name: 'cli-leader',
    change: 'initial',
    leader: null,
    previous: null,
  });

  const subs: Subscription[] = [];
  const won = (value: string) =>
    new Promise<Leadership>((resolve) => subs.push(election.campaign(value).subscribe(resolve)));
  const alpha = await won('alpha');
  const elected = await cli.waitJson((j) => j.change === 'elected');
  const leader = elected.leader as Record<string, unknown>;
  assert.equal(leader.value, 'alpha');
  assert.equal(leader.term, alpha.term.toString());
  assert.equal(leader.key, alpha.key);
  assert.equal(leader.sinceStart, false);

  await alpha.proclaim('alpha-2');
  const proclaimed = await cli.waitJson((j) => j.change === 'proclaimed');
  assert.equal((proclaimed.leader as Record<string, unknown>).value, 'alpha-2');

  const beta = won('beta');
  // Beta queued behind alpha: alpha's resignation hands over directly, with no vacancy between.
  await waitUntil(
    async () => (await shared.cluster.client().getAll().prefix('election/cli-leader/').keys()).length === 2,
  );
  await alpha.resign();
  const next = await cli.waitJson(
    (j) => j.change === 'elected' && (j.leader as { value?: string }).value === 'beta',
  );
  const previous = next.previous as Record<string, unknown>;
  assert.equal(previous.value, 'alpha-2');
  assert.equal(previous.term, alpha.term.toString());
  assert.equal(previous.heldAtLeast, false);
  assert.ok(typeof previous.heldMs === 'number' && previous.heldMs >= 0);
  assert.ok(BigInt(String((next.leader as Record<string, unknown>).term)) > alpha.term);
  await (await beta).resign();
  await cli.waitJson((j) => j.change === 'vacant');
  for (const s of subs) s.unsubscribe();
  await stop(cli);
});

test('locks: the holder and the queue in order, then the next holder; --once prints one state and exits', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const mutex = shared.concord.mutex('cli-locks');
  const holder = await mutex.lock();
  // One after the other: each lock() grants a lease first, so two at once could queue either way.
  const waiters: Promise<LockHandle>[] = [];
  for (const queued of [2, 3]) {
    waiters.push(mutex.lock());
    await waitUntil(
      async () => (await shared.cluster.client().getAll().prefix('cli-locks/').keys()).length === queued,
    );
  }
  const cli = await view('locks', 'cli-locks');
  const full = await cli.waitJson((j) => j.type === 'locks' && (j.waiters as unknown[]).length === 2);
  const holders = full.holders as Record<string, unknown>[];
  const queue = full.waiters as Record<string, unknown>[];
  assert.deepEqual(
    holders.map((h) => [h.key, h.token, h.position, h.kind]),
    [[holder.key, holder.fencingToken.toString(), 0, 'exclusive']],
  );
  assert.deepEqual(
    queue.map((w) => w.position),
    [1, 2],
  );
  assert.ok(
    BigInt(String(queue[0]!.token)) < BigInt(String(queue[1]!.token)),
    'waiters in create-revision order',
  );
  for (const entry of [...holders, ...queue]) assert.equal(typeof entry.forMs, 'number');

  await holder.release();
  const second = await waiters[0]!;
  const moved = await cli.waitJson(
    (j) => j.type === 'locks' && (j.holders as { key: string }[])[0]?.key === second.key,
  );
  assert.equal((moved.waiters as unknown[]).length, 1);
  assert.equal(
    (moved.holders as { sinceStart: boolean }[])[0]!.sinceStart,
    true,
    'it was in the queue when the view started',
  );

  const once = await runCli(['locks', 'cli-locks', '--once', ...endpoints()]);
  assert.equal(once.code, 0, once.stderr);
  const lines = once.lines.filter((l) => l.stream === 'stdout');
  assert.equal(lines.length, 1);
  assert.equal((lines[0]!.json!.holders as { key: string }[])[0]!.key, second.key);

  await second.release();
  await (await waiters[1]!).release();
  await cli.waitJson((j) => j.type === 'locks' && (j.holders as unknown[]).length === 0);
  await stop(cli);
});

test('locks: a read-write lock shows read and write kinds; a semaphore holds --permits', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const rw = shared.concord.rwlock('cli-rw');
  const readers = [await rw.read(), await rw.read()];
  const writer = rw.write();
  const rwView = await runCli(['locks', 'cli-rw', '--once', ...endpoints()]);
  assert.equal(rwView.code, 0, rwView.stderr);
  const rwState = rwView.lines.find((l) => l.json)!.json!;
  assert.deepEqual(
    (rwState.holders as { kind: string }[]).map((h) => h.kind),
    ['read', 'read'],
  );
  assert.deepEqual(
    (rwState.waiters as { kind: string }[]).map((w) => w.kind),
    ['write'],
  );
  for (const r of readers) await r.release();
  await (await writer).release();

  const semaphore = shared.concord.semaphore('cli-sem', { permits: 2 });
  const permits = [await semaphore.acquire(), await semaphore.acquire()];
  const third = semaphore.acquire();
  const semView = await runCli(['locks', 'cli-sem', '--permits', '2', '--once', ...endpoints()]);
  const semState = semView.lines.find((l) => l.json)!.json!;
  assert.equal((semState.holders as unknown[]).length, 2);
  assert.equal((semState.waiters as unknown[]).length, 1);
  for (const p of permits) await p.release();
  await (await third).release();
});

test('services: every service with address, meta, status and age; one service live as instances come and go', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const registry = shared.concord.registry();
  const api = await registry.register({
    service: 'api',
    id: 'i1',
    address: '10.0.0.1:80',
    meta: { zone: 'a' },
  });
  // A plain address written by another client is an instance too.
  await shared.cluster.client().put('services/web/w1').value('10.0.0.9:8080');

  const all = await runCli(['services', '--once', ...endpoints()]);
  assert.equal(all.code, 0, all.stderr);
  const state = all.lines.find((l) => l.json)!.json!;
  assert.equal(state.service, null);
  const instances = state.instances as Record<string, unknown>[];
  assert.deepEqual(
    instances.map((i) => [i.service, i.id, i.address, i.status]),
    [
      ['api', 'i1', '10.0.0.1:80', 'serving'],
      ['web', 'w1', '10.0.0.9:8080', 'serving'],
    ],
  );
  assert.deepEqual(instances[0]!.meta, { zone: 'a' });
  assert.ok(typeof instances[0]!.ageMs === 'number' && instances[0]!.ageMs >= 0);
  assert.equal(instances[1]!.ageMs, null, 'a plain address has no registration time');

  const cli = await view('services', 'api');
  await cli.waitJson((j) => j.type === 'services' && (j.instances as unknown[]).length === 1);
  const second = await registry.register({ service: 'api', id: 'i2', address: '10.0.0.2:80' });
  await cli.waitJson((j) => j.type === 'services' && (j.instances as unknown[]).length === 2);
  await api.deregister();
  const after = await cli.waitJson(
    (j) => j.type === 'services' && (j.instances as { id: string }[]).map((i) => i.id).join() === 'i2',
  );
  assert.equal(after.service, 'api');
  await second.deregister();
  await shared.cluster.client().delete().key('services/web/w1');
  await stop(cli);
});

describe('config', () => {
  test('get prints the nested value and marks the keys that cannot be placed', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const client = shared.cluster.client();
    await client.put('cfg1/db/pool').value('20');
    await client.put('cfg1/db/host').value('db.local');
    await client.put('cfg1/db/pool/max').value('3');
    const got = await runCli(['config', 'get', 'cfg1', ...endpoints()]);
    assert.equal(got.code, 0, got.stderr);
    const lines = got.lines.filter((l) => l.stream === 'stdout');
    assert.equal(lines.length, 1);
    const config = lines[0]!.json!;
    assert.equal(config.prefix, 'cfg1/');
    assert.deepEqual(config.value, { db: { host: 'db.local', pool: 20 } });
    assert.deepEqual(
      (config.invalid as { path: string }[]).map((i) => i.path),
      ['db/pool/max'],
    );
  });

  test('set writes JSON and prints its revision; --if-revision conflicts exit 123; bad JSON and unmappable writes exit 2', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const cli = await view('config', 'watch', 'cfg2/');
    await cli.waitJson(isType('config'));
    const set = await runCli(['config', 'set', 'cfg2', 'db/pool', '20', ...endpoints()]);
    assert.equal(set.code, 0, set.stderr);
    const written = set.lines.find((l) => l.json)!.json!;
    assert.equal(written.type, 'config-set');
    assert.equal(written.path, 'db/pool');
    const revision = String(written.revision);
    const seen = await cli.waitJson((j) => j.type === 'config' && j.revision === revision);
    assert.deepEqual(seen.value, { db: { pool: 20 } });

    const cas = await runCli([
      'config',
      'set',
      'cfg2',
      'db/pool',
      '30',
      '--if-revision',
      revision,
      ...endpoints(),
    ]);
    assert.equal(cas.code, 0, cas.stderr);
    const stale = await runCli([
      'config',
      'set',
      'cfg2',
      'db/pool',
      '40',
      '--if-revision',
      revision,
      ...endpoints(),
    ]);
    assert.equal(stale.code, 123, stale.stderr);
    assert.equal(stale.stderr.trim().split('\n').length, 1);

    const badJson = await runCli(['config', 'set', 'cfg2', 'db/name', 'billing', ...endpoints()]);
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /not valid JSON/);
    const unmappable = await runCli(['config', 'set', 'cfg2', 'db/pool/max', '3', ...endpoints()]);
    assert.equal(unmappable.code, 2, unmappable.stderr);

    const latest = await cli.waitJson(
      (j) => j.type === 'config' && (j.value as { db: { pool: number } }).db.pool === 30,
    );
    assert.deepEqual(latest.invalid, []);
    await stop(cli);
  });
});

test('status: endpoints, members, raft leader, versions, db size, lease and client counts', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const session = await shared.concord.session();
  const got = await runCli(['status', '--once', ...endpoints()]);
  assert.equal(got.code, 0, got.stderr);
  const status = got.lines.find((l) => l.json)!.json!;
  assert.equal(status.type, 'status');
  const [endpoint] = status.endpoints as Record<string, unknown>[];
  assert.equal(endpoint!.endpoint, shared.cluster.endpoints[0]);
  assert.equal(endpoint!.ok, true);
  assert.match(String(endpoint!.version), /^3\.\d+\.\d+$/);
  assert.ok(typeof endpoint!.dbSize === 'number' && endpoint!.dbSize > 0);
  assert.equal(endpoint!.isLeader, true);
  const members = status.members as Record<string, unknown>[];
  assert.deepEqual(
    members.map((m) => [m.name, m.isLeader]),
    [['m0', true]],
  );
  assert.deepEqual(status.raftLeader, { id: endpoint!.memberId, name: 'm0' });
  assert.ok(typeof status.leases === 'number' && status.leases >= 1, 'the test session is a lease');
  assert.deepEqual(Object.keys(status.client as object).sort(), [
    'streams',
    'subscribers',
    'upstreamWatches',
  ]);
  await session.close();

  // Live: one line per refresh.
  const cli = await view('status', '--interval', '200');
  await cli.waitLine(() => cli.json().filter(isType('status')).length >= 2);
  await stop(cli);
});

test('a view with --once and nothing to show still prints its (empty) state', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const got = await runCli(['services', 'nobody', '--once', ...endpoints()]);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual(got.lines.find((l) => l.json)!.json, {
    type: 'services',
    service: 'nobody',
    instances: [],
  });
  const empty = await runCli(['leader', 'cli-empty', '--once', ...endpoints()]);
  assert.equal(empty.lines.find((l) => l.json)!.json!.change, 'initial');
});
