import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useCluster } from '../support/fixture.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';
import { sleep } from '../support/wait.js';
import { spawnWorker, type Worker } from '../support/worker.js';

const COUNTER = new URL('./fixtures/mutex-counter.ts', import.meta.url).pathname;
const WORKERS = 4;
const INCREMENTS = 200;
const TTL_S = 2;

describe('Mutex under faults', () => {
  const shared = useCluster();

  test('4 processes x 200 guarded increments while processes are paused past the TTL and connections cut: no lost update', async () => {
    const proxies: TcpProxy[] = [];
    const workers: Worker[] = [];
    const faults: string[] = [];
    try {
      for (let i = 0; i < WORKERS; i++) {
        const proxy = await startProxy(shared.cluster.endpoints[0]!);
        proxies.push(proxy);
        workers.push(
          spawnWorker(COUNTER, {
            env: {
              ETCD_ENDPOINTS: proxy.endpoint,
              COUNTER_TARGET: String(INCREMENTS),
              COUNTER_TTL: String(TTL_S),
              COUNTER_HOLD_MS: '40',
            },
          }),
        );
      }
      const started = Date.now();
      const finished = Promise.all(workers.map((w) => w.waitFor((m) => m.type === 'done', 150_000)));
      let done = false;
      void finished.then(
        () => (done = true),
        () => (done = true),
      );
      // Inject faults until every worker is done: pause a process past its TTL, cut its
      // connections, or blackhole it past its TTL.
      while (!done) {
        await Promise.race([sleep(1_500 + Math.random() * 1_500), finished.catch(() => undefined)]);
        if (done) break;
        const i = Math.floor(Math.random() * WORKERS);
        const worker = workers[i]!;
        const proxy = proxies[i]!;
        const kind = ['pause', 'cut', 'blackhole'][Math.floor(Math.random() * 3)]!;
        if (kind === 'pause') {
          // Freeze it right after it takes the lock, so it wakes up as a stale holder.
          const holding = await worker
            .waitFor((m) => m.type === 'holding' || m.type === 'done', 10_000, { since: worker.all().length })
            .catch(() => undefined);
          if (holding?.type !== 'holding') continue;
          worker.pause();
          faults.push(`pause:${i}`);
          await sleep(TTL_S * 1000 + 500 + Math.random() * 500);
          worker.resume();
        } else if (kind === 'cut') {
          proxy.cut();
          faults.push(`cut:${i}`);
        } else {
          faults.push(`blackhole:${i}`);
          proxy.blackhole();
          await sleep(TTL_S * 1000 + 500);
          proxy.restore();
        }
      }
      const reports = await finished;
      const elapsed = Date.now() - started;

      const client = shared.cluster.client();
      const counter = Number(await client.get('counter').string());
      const log = await client.getAll().prefix('counter-log/').strings();
      const entries = Object.entries(log).map(([key, value]) => ({
        token: BigInt(key.slice('counter-log/'.length)),
        value: Number(value),
      }));
      const commits = workers.flatMap((w) => w.all().filter((m) => m.type === 'commit'));
      const stale = workers.flatMap((w) => w.all().filter((m) => m.type === 'stale')).length;
      const retries = workers.flatMap((w) => w.all().filter((m) => m.type === 'retry')).length;
      console.log(
        `${elapsed} ms, faults ${faults.length} (${faults.join(' ')}); counter ${counter}, ` +
          `confirmed commits ${commits.length}, log entries ${entries.length}, ` +
          `rejected stale txns ${stale}, retried acquisitions ${retries}`,
      );

      assert.ok(
        faults.some((f) => f.startsWith('pause')),
        'at least one holder was paused',
      );
      assert.ok(stale + retries > 0, 'a paused holder found its lock lost');
      assert.ok(commits.length >= WORKERS * INCREMENTS);
      for (const report of reports) assert.equal(report.committed, INCREMENTS);
      // Every successful guarded commit wrote one log entry under its own token; the counter
      // equals their number, so no increment was lost or applied twice.
      assert.equal(counter, entries.length, 'final counter = number of successful guarded commits');
      const values = entries.map((e) => e.value).sort((a, b) => a - b);
      assert.deepEqual(
        values,
        Array.from({ length: counter }, (_, i) => i + 1),
        'each value committed once',
      );
      // Commits in token order are commits in value order: fencing tokens order the holders.
      const byToken = [...entries].sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
      for (let i = 1; i < byToken.length; i++) assert.ok(byToken[i]!.value > byToken[i - 1]!.value);
      // No two holders committed with the same token: every confirmed commit is the log entry of its token.
      const tokens = commits.map((c) => String(c.token));
      assert.equal(new Set(tokens).size, tokens.length, 'confirmed commits have distinct tokens');
      const logByToken = new Map(entries.map((e) => [e.token.toString(), e.value]));
      for (const c of commits) assert.equal(logByToken.get(String(c.token)), Number(c.value));
    } finally {
      for (const w of workers) w.resume();
      await Promise.all(workers.map((w) => w.kill()));
      await Promise.all(proxies.map((p) => p.close()));
    }
  });
});
