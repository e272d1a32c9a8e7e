// Quiet ranges still move forward; a silent stream is noticed and replaced.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Concord } from '../../src/concord.js';
import type { View } from '../../src/watch/types.js';
import { useCluster } from '../support/fixture.js';
import { sleep, waitUntil } from '../support/wait.js';
import { collect, eventLines, rangeCalls, waitGauges } from './helpers.js';

const chatty = useCluster({ progressNotifyInterval: '200ms' });
const plain = useCluster({ proxy: true });

interface LogLine {
  level: string;
  message: string;
  fields?: Record<string, unknown>;
}

function recordingLogger(lines: LogLine[]) {
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push({ level, message, ...(fields ? { fields } : {}) });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

test('on a quiet range the revision advances through progress notifications', async () => {
  const concord = new Concord({ endpoints: chatty.cluster.endpoints });
  try {
    const quiet = collect(concord.watch({ prefix: 'quiet/' }));
    const views: View[] = [];
    const viewSub = concord.view({ prefix: 'quiet/' }).subscribe((v) => views.push(v));
    await waitUntil(() => quiet.batches.length === 1 && views.length === 1);
    let lastWrite = 0n;
    for (let i = 0; i < 5; i++) {
      lastWrite = BigInt((await chatty.cluster.client().put(`busy/${i}`).value(String(i))).header.revision);
      await sleep(100);
    }
    await waitUntil(() => quiet.batches.at(-1)!.revision === lastWrite, {
      timeoutMs: 3_000,
      message: 'a progress notification at the last write',
    });
    assert.ok(quiet.batches.every((b) => b.type === 'progress'));
    for (let i = 1; i < quiet.batches.length; i++) {
      assert.ok(quiet.batches[i]!.revision > quiet.batches[i - 1]!.revision);
    }
    // The view emits nothing (nothing changed) but its cached revision moved: a late subscriber
    // gets it without a read.
    assert.equal(views.length, 1);
    const member = chatty.cluster.members[0]!;
    const reads = await rangeCalls(member);
    let late: View | undefined;
    concord
      .view({ prefix: 'quiet/' })
      .subscribe((v) => {
        late = v;
      })
      .unsubscribe();
    assert.equal(late?.revision, lastWrite);
    assert.equal(late?.entries, views[0]!.entries);
    assert.equal(await rangeCalls(member), reads);
    quiet.subscription.unsubscribe();
    viewSub.unsubscribe();
  } finally {
    await concord.close();
  }
});

test('an idle stream stays open past the stall timeout: etcd answers the progress requests', async () => {
  const lines: LogLine[] = [];
  const concord = new Concord({
    endpoints: plain.cluster.endpoints,
    watch: { stallTimeoutMs: 400 },
    logger: recordingLogger(lines),
  });
  try {
    const idle = collect(concord.watch({ prefix: 'idle/' }));
    await waitUntil(() => idle.batches.length === 1);
    await sleep(2_000);
    assert.deepEqual(
      lines.filter((l) => l.level === 'warn'),
      [],
    );
    await waitGauges(plain.cluster.members[0]!, { watchers: 1, streams: 1 });
    const put = await plain.cluster.client().put('idle/a').value('1');
    await waitUntil(() => idle.batches.length === 2);
    assert.equal(idle.batches[1]!.revision, BigInt(put.header.revision));
    idle.subscription.unsubscribe();
  } finally {
    await concord.close();
  }
});

test('a blackholed connection is detected within the stall timeout and resumed without loss', async (t) => {
  const lines: LogLine[] = [];
  const stallTimeoutMs = 1_000;
  const concord = new Concord({
    endpoints: [plain.proxy.endpoint],
    watch: { stallTimeoutMs },
    logger: recordingLogger(lines),
  });
  const states: string[] = [];
  const stateSub = concord.state$.subscribe((s) => states.push(s));
  try {
    const watched = collect(concord.watch({ prefix: 'bh/' }));
    await waitUntil(() => watched.batches.length === 1);
    await plain.cluster.client().put('bh/0').value('0');
    await waitUntil(() => watched.batches.length === 2);

    const blackholedAt = Date.now();
    plain.proxy.blackhole();
    for (let i = 1; i <= 5; i++) await plain.cluster.client().put(`bh/${i}`).value(String(i));
    await waitUntil(() => lines.some((l) => l.message === 'watch stream interrupted; resuming'), {
      timeoutMs: stallTimeoutMs * 3,
      message: 'stall detection',
    });
    const detectedAfter = Date.now() - blackholedAt;
    t.diagnostic(`stall detected ${detectedAfter} ms after the blackhole (stallTimeoutMs ${stallTimeoutMs})`);
    const warning = lines.find((l) => l.message === 'watch stream interrupted; resuming');
    assert.match(String(warning?.fields?.error), /silent/);
    assert.ok(detectedAfter >= stallTimeoutMs * 0.9, `detected after ${detectedAfter} ms`);
    assert.equal(watched.batches.length, 2, 'nothing arrived while blackholed');
    assert.ok(states.includes('disconnected'));

    plain.proxy.restore();
    for (let i = 6; i <= 8; i++) await plain.cluster.client().put(`bh/${i}`).value(String(i));
    await waitUntil(() => eventLines(watched.batches).length === 9, { timeoutMs: 10_000 });
    assert.deepEqual(
      eventLines(watched.batches).map((l) => l.split('@')[0]),
      Array.from({ length: 9 }, (_, i) => `put bh/${i}=${i}`),
    );
    assert.equal(states.at(-1), 'connected');
    watched.subscription.unsubscribe();
  } finally {
    stateSub.unsubscribe();
    await concord.close();
  }
});

test('a connection that dies without a reset is replaced by a fresh one after the stall timeout', async (t) => {
  const lines: LogLine[] = [];
  const stallTimeoutMs = 1_000;
  const concord = new Concord({
    endpoints: [plain.proxy.endpoint],
    watch: { stallTimeoutMs },
    logger: recordingLogger(lines),
  });
  try {
    const watched = collect(concord.watch({ prefix: 'fz/' }));
    await waitUntil(() => watched.batches.length === 1);
    const frozenAt = Date.now();
    plain.proxy.freeze();
    for (let i = 0; i < 5; i++) await plain.cluster.client().put(`fz/${i}`).value(String(i));
    // Only the old connection is dead (frozen ones forward nothing, ever): the hub must not wait
    // for gRPC keepalive (15 s) to give up on it.
    await waitUntil(() => eventLines(watched.batches).length === 5, {
      timeoutMs: stallTimeoutMs * 4,
      message: 'events through a fresh connection',
    });
    const resumedAfter = Date.now() - frozenAt;
    t.diagnostic(`resumed ${resumedAfter} ms after the connection froze (stallTimeoutMs ${stallTimeoutMs})`);
    assert.deepEqual(
      eventLines(watched.batches).map((l) => l.split('@')[0]),
      Array.from({ length: 5 }, (_, i) => `put fz/${i}=${i}`),
    );
    assert.match(String(lines.find((l) => l.level === 'warn')?.fields?.error), /silent/);
    watched.subscription.unsubscribe();
  } finally {
    await concord.close();
    plain.proxy.cut();
  }
});
