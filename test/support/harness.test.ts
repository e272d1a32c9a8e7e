// Self-tests of the real-etcd harness: each test proves one capability other suites rely on.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, connect as netConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestClient } from './client.js';
import { startCluster } from './etcd.js';
import { resolveEtcdBinary, resolveEtcdctlBinary } from './etcd-binary.js';
import { EtcdMember, EtcdStartError } from './etcd-member.js';
import { useCluster } from './fixture.js';
import { startProxy } from './proxy.js';
import { freePort, sleep, waitUntil } from './wait.js';
import { spawnWorker } from './worker.js';

const ECHO_WORKER = fileURLToPath(new URL('./fixtures/echo-worker.ts', import.meta.url));

const single = useCluster();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('single member: starts and serves put/get', async () => {
  const [member] = single.cluster.members;
  assert.equal(single.cluster.members.length, 1);
  assert.match(member!.endpoint, /^127\.0\.0\.1:\d+$/);
  assert.deepEqual(single.cluster.endpoints, [member!.endpoint]);
  assert.ok(member!.running && isAlive(member!.pid!));
  await single.cluster.client().put('harness/hello').value('world');
  assert.equal(await single.cluster.client().get('harness/hello').string(), 'world');
});

test('metrics: /metrics is parsed into numbers', async () => {
  const member = single.cluster.members[0]!;
  const watcher = await single.cluster.client().watch().key('harness/metrics').create();
  try {
    const series = await member.metrics();
    assert.equal(series.get('etcd_server_has_leader'), 1);
    assert.equal(typeof series.get('etcd_debugging_mvcc_watch_stream_total'), 'number');
    assert.ok((await member.metric('etcd_debugging_mvcc_watcher_total')) >= 1);
    assert.ok([...series.keys()].some((k) => k.startsWith('grpc_server_handled_total{grpc_code="OK"')));
    assert.ok((await member.metric('grpc_server_handled_total')) > 0);
  } finally {
    await watcher.cancel();
  }
});

test('compact: older revisions become unreadable', async () => {
  const client = single.cluster.client();
  const first = BigInt((await client.put('harness/compact').value('v1').exec()).header.revision);
  await client.put('harness/compact').value('v2');
  const at = await single.cluster.compact();
  assert.equal(at, await single.cluster.revision());
  assert.ok(at > first);
  await assert.rejects(client.get('harness/compact').revision(first.toString()).string(), /compacted/);
  assert.equal(await client.get('harness/compact').string(), 'v2');
});

test('stop + start a member: data survives, same endpoint', async () => {
  const member = single.cluster.members[0]!;
  await single.cluster.client().put('harness/durable').value('kept');
  const oldPid = member.pid!;
  await member.stop();
  assert.equal(member.running, false);
  assert.equal(member.pid, undefined);
  assert.equal(isAlive(oldPid), false);
  await member.start();
  assert.ok(member.running && member.pid !== oldPid);
  assert.equal(await single.cluster.client().get('harness/durable').string(), 'kept');
});

test('pause (SIGSTOP) makes requests time out, resume makes them work again', async () => {
  const member = single.cluster.members[0]!;
  const client = single.cluster.client();
  await client.put('harness/pause').value('1');
  member.pause();
  try {
    assert.equal(member.paused, true);
    await assert.rejects(
      client
        .get('harness/pause')
        .options({ deadline: Date.now() + 300 })
        .string(),
    );
  } finally {
    member.resume();
  }
  assert.equal(
    await client
      .get('harness/pause')
      .options({ deadline: Date.now() + 3000 })
      .string(),
    '1',
  );
});

test('proxy: forwards, cut() forces a watch to reconnect, blackhole() stalls, restore() heals', async () => {
  const direct = single.cluster.client();
  const proxy = await startProxy(single.cluster.members[0]!.endpoint);
  const viaProxy = createTestClient(proxy.endpoint);
  try {
    await viaProxy.put('harness/proxy').value('a');
    assert.equal(await viaProxy.get('harness/proxy').string(), 'a');
    assert.ok(proxy.connections >= 1);

    const seen: string[] = [];
    let disconnects = 0;
    const watcher = await viaProxy.watch().key('harness/proxy-watch').create();
    watcher.on('put', (kv) => seen.push(kv.value.toString()));
    watcher.on('disconnected', () => disconnects++);
    await direct.put('harness/proxy-watch').value('1');
    await waitUntil(() => seen.includes('1'), { message: 'watch event before cut' });

    proxy.cut();
    await waitUntil(() => disconnects > 0, { message: 'watch to notice the cut' });
    await direct.put('harness/proxy-watch').value('2');
    await waitUntil(() => seen.includes('2'), { timeoutMs: 5000, message: 'watch to resume after cut' });
    assert.deepEqual(seen, ['1', '2']);

    proxy.blackhole();
    await assert.rejects(
      viaProxy
        .get('harness/proxy')
        .options({ deadline: Date.now() + 300 })
        .string(),
    );
    proxy.restore();
    await waitUntil(
      async () =>
        (await viaProxy
          .get('harness/proxy')
          .options({ deadline: Date.now() + 1000 })
          .string()) === 'a',
      { timeoutMs: 5000, message: 'reads through the restored proxy' },
    );
    await watcher.cancel();
  } finally {
    viaProxy.close();
    await proxy.close();
    await proxy.close();
  }
  assert.equal(proxy.connections, 0);
});

test('proxy: retarget() sends new connections elsewhere', async () => {
  const banner = (text: string) =>
    new Promise<Server>((resolve) => {
      const server = createServer((s) => s.end(text)).listen(0, '127.0.0.1', () => resolve(server));
    });
  const addr = (s: Server) => {
    const a = s.address();
    return typeof a === 'object' && a !== null ? `127.0.0.1:${a.port}` : '';
  };
  const read = (endpoint: string) =>
    new Promise<string>((resolve, reject) => {
      const [host, port] = endpoint.split(':');
      const socket = netConnect(Number(port), host);
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
  const a = await banner('A');
  const b = await banner('B');
  const proxy = await startProxy(addr(a));
  try {
    assert.equal(await read(proxy.endpoint), 'A');
    proxy.retarget(addr(b));
    assert.equal(await read(proxy.endpoint), 'B');
  } finally {
    await proxy.close();
    a.close();
    b.close();
  }
});

test('3 members: leader killed, writes go on, new leader, old one rejoins', async () => {
  const cluster = await startCluster({ size: 3 });
  try {
    assert.equal(new Set(cluster.endpoints).size, 3);
    const old = await cluster.leader();
    await old.kill();
    assert.equal(old.running, false);
    // A write forwarded to the dead leader is only failed by etcd after its request timeout
    // (5 s + 2 x election timeout), so retry with short deadlines instead of waiting for that.
    await waitUntil(
      async () => {
        await cluster
          .client()
          .put('harness/failover')
          .value('after-kill')
          .options({ deadline: Date.now() + 1000 });
        return true;
      },
      { timeoutMs: 8000, message: 'a write after the leader was killed' },
    );
    const next = await cluster.leader();
    assert.notEqual(next.name, old.name);

    await old.start();
    await cluster.waitHealthy();
    assert.equal(await old.metric('etcd_server_has_leader'), 1);
    await waitUntil(
      async () => (await old.client().get('harness/failover').serializable(true).string()) === 'after-kill',
      { message: 'the restarted member to catch up' },
    );
  } finally {
    await cluster.stop();
  }
});

test('worker: messages both ways, pause/resume, kill', async () => {
  const worker = spawnWorker(ECHO_WORKER, { args: ['a1'], env: { ECHO_TAG: 'tag' } });
  try {
    const ready = await worker.waitFor((m) => m.type === 'ready', 10_000);
    assert.equal(ready.pid, worker.pid);
    assert.deepEqual(ready.args, ['a1']);
    assert.equal(ready.env, 'tag');

    worker.send({ hello: 1 });
    const echo = await worker.waitFor((m) => m.type === 'echo');
    assert.deepEqual(echo.msg, { hello: 1 });

    const ticks = () => worker.all().filter((m) => m.type === 'tick').length;
    await worker.waitFor((m) => m.type === 'tick');
    worker.pause();
    await sleep(150); // let lines already in the pipe arrive
    const frozen = ticks();
    await sleep(300);
    assert.equal(ticks(), frozen, 'a paused worker sends nothing');
    worker.resume();
    await worker.waitFor((m) => m.type === 'tick', 2000, { since: worker.all().length });

    assert.equal(await worker.kill(), null);
    assert.equal(isAlive(worker.pid), false);
    await assert.rejects(
      worker.waitFor(() => false, 100),
      /exited/,
    );
  } finally {
    await worker.kill();
  }
});

test('cluster.stop(): no etcd process left, data dirs removed, idempotent', async () => {
  const cluster = await startCluster();
  const pids = cluster.members.map((m) => m.pid!);
  assert.ok(existsSync(cluster.members[0]!.dataDir));
  await cluster.stop();
  for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} still alive`);
  assert.equal(existsSync(cluster.dir), false);
  await cluster.stop();
});

test('start failure: the error carries the log and flags a port taken meanwhile', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const peerPort = (taken.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'concord-harness-'));
  const member = new EtcdMember({
    binary: resolveEtcdBinary(),
    name: 'm0',
    dir,
    clientPort: await freePort(),
    peerPort,
    clientScheme: 'http',
    initialCluster: `m0=http://127.0.0.1:${peerPort}`,
    clusterToken: 'harness-port-taken',
    extraArgs: [],
    clientOptions: {},
  });
  try {
    await assert.rejects(member.start(), (err: unknown) => {
      assert.ok(err instanceof EtcdStartError);
      assert.equal(err.addressInUse, true);
      assert.match(err.message, /exited during start[\s\S]*address already in use/);
      return true;
    });
    assert.equal(member.running, false);
  } finally {
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing binary: startCluster explains how to install etcd', async () => {
  const saved = process.env.ETCD_BIN;
  process.env.ETCD_BIN = '/nonexistent/bin/etcd';
  try {
    await assert.rejects(startCluster(), /apt-get install -y etcd-server/);
  } finally {
    if (saved === undefined) delete process.env.ETCD_BIN;
    else process.env.ETCD_BIN = saved;
  }
});

test('etcdctl: ETCDCTL_BIN first, else the one beside the server, else PATH; missing fails with instructions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'concord-harness-'));
  const executable = (path: string) => {
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o755);
    return path;
  };
  try {
    mkdirSync(join(dir, 'server'));
    mkdirSync(join(dir, 'path'));
    const server = executable(join(dir, 'server', 'etcd'));
    const beside = executable(join(dir, 'server', 'etcdctl'));
    const onPath = executable(join(dir, 'path', 'etcdctl'));
    const configured = executable(join(dir, 'etcdctl-configured'));
    const PATH = join(dir, 'path');
    assert.equal(resolveEtcdctlBinary({ ETCDCTL_BIN: configured, ETCD_BIN: server, PATH }), configured);
    assert.equal(resolveEtcdctlBinary({ ETCD_BIN: server, PATH }), beside);
    rmSync(beside);
    assert.equal(resolveEtcdctlBinary({ ETCD_BIN: server, PATH }), onPath);
    assert.throws(
      () => resolveEtcdctlBinary({ ETCDCTL_BIN: join(dir, 'nope'), ETCD_BIN: server, PATH }),
      /ETCDCTL_BIN=.*nope is not an executable file.*apt-get install -y etcd-client/,
    );
    assert.throws(
      () => resolveEtcdctlBinary({ ETCD_BIN: server, PATH: '' }),
      /etcdctl binary not found.*apt-get install -y etcd-client/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('etcdctl: the resolved etcdctl reads and writes the harness cluster', async () => {
  const run = (...args: string[]) =>
    promisify(execFile)(
      resolveEtcdctlBinary(),
      [`--endpoints=${single.cluster.endpoints.join(',')}`, ...args],
      {
        env: { ...process.env, ETCDCTL_API: '3' },
        timeout: 10_000,
      },
    );
  await run('put', 'harness/etcdctl', 'from-etcdctl');
  assert.equal(await single.cluster.client().get('harness/etcdctl').string(), 'from-etcdctl');
  await single.cluster.client().put('harness/etcdctl').value('from-client');
  assert.equal((await run('get', '--print-value-only', 'harness/etcdctl')).stdout.trim(), 'from-client');
});
