// Runs examples/prometheus.ts twice on one etcd (the second through a proxy), scrapes /metrics and
// /healthz as Prometheus and a load balancer would: the job lock's series move as it is taken
// again and again, stopping the leader moves the other's leader series, a cut-off instance turns
// unhealthy and back, and SIGTERM releases everything and exits 0.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { useCluster } from '../support/fixture.js';
import { parsePrometheusText, sumMetric } from '../support/prometheus.js';
import { waitUntil } from '../support/wait.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/prometheus.ts', import.meta.url));
const shared = useCluster({ proxy: true });

interface Instance {
  readonly child: ChildProcess;
  readonly url: string;
  out(): string;
  exited: Promise<number | null>;
}

/** Starts the example on `endpoint` and resolves once it serves its metrics. */
async function start(id: string, endpoint: string): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', EXAMPLE], {
    env: { ...process.env, ETCD_ENDPOINTS: endpoint, INSTANCE_ID: id, JOB_EVERY_MS: '200' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    out += text;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let url = '';
  await waitUntil(
    () => {
      url = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(out)?.[1] ?? '';
      return url !== '';
    },
    { timeoutMs: 30_000, message: `instance ${id} to serve its metrics; output:\n${out}` },
  );
  return { child, url, out: () => out, exited };
}

async function scrape(instance: Instance): Promise<Map<string, number>> {
  const res = await fetch(`${instance.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return parsePrometheusText(await res.text());
}

async function health(instance: Instance): Promise<number> {
  return (await fetch(`${instance.url}/healthz`)).status;
}

/** Waits until `pred` holds of a scrape of `instance`; returns that scrape. */
async function until(
  instance: Instance,
  what: string,
  pred: (series: Map<string, number>) => boolean,
): Promise<Map<string, number>> {
  let series = new Map<string, number>();
  await waitUntil(
    async () => {
      series = await scrape(instance);
      return pred(series);
    },
    { timeoutMs: 20_000, message: `${what}; last scrape:\n${[...series].join('\n')}` },
  );
  return series;
}

const WAITS = 'concord_lock_wait_seconds_count';
const leads = (s: Map<string, number>) => s.get('concord_leader{election="metrics-demo"}') === 1;
const changes = (s: Map<string, number>) => sumMetric(s, 'concord_leader_changes_total');

test('examples/prometheus.ts: lock and leader series move, /healthz follows the connection, SIGTERM releases', async (t) => {
  const a = await start('a', shared.cluster.endpoints.join(','));
  let b: Instance | undefined;
  try {
    const first = await until(
      a,
      'a leads and took the job lock',
      (s) => leads(s) && sumMetric(s, WAITS) >= 1,
    );
    assert.equal(first.get('concord_registered{service="metrics-demo"}'), 1);
    assert.equal(first.get('concord_sessions'), 1);
    assert.ok(changes(first) >= 1, 'a saw itself become the leader');
    assert.equal(await health(a), 200);
    // The job takes the lock again and again: its series move.
    await until(a, 'more lock waits', (s) => sumMetric(s, WAITS) > sumMetric(first, WAITS));
    assert.ok(sumMetric(await scrape(a), 'concord_lock_hold_seconds_count') >= 1);

    b = await start('b', shared.proxy.endpoint);
    const waiting = await until(b, 'b registered and sees a lead', (s) => changes(s) >= 1);
    assert.ok(!leads(waiting), 'b does not lead while a does');
    const before = changes(waiting);

    // Stopping a hands the leadership to b: b's leader series move.
    a.child.kill('SIGTERM');
    assert.equal(await a.exited, 0, a.out());
    assert.match(a.out(), /released; bye/);
    const after = await until(b, 'b leads', leads);
    assert.ok(changes(after) > before, `leader changes ${before} -> ${changes(after)}`);
    // Everything a held (registration, candidate key, job lock) went with its session: what is
    // left is on b's lease alone.
    const leases = new Set<string>();
    for (const prefix of ['services/metrics-demo/', 'election/metrics-demo/', 'metrics-demo-job/']) {
      const res = await shared.cluster.client().getAll().prefix(prefix).exec();
      for (const kv of res.kvs) leases.add(String(kv.lease));
    }
    assert.equal(leases.size, 1, `keys on leases ${[...leases].join(', ')}`);
    const services = await shared.cluster.client().getAll().prefix('services/metrics-demo/').keys();
    assert.deepEqual(services, ['services/metrics-demo/b']);

    // b cut off from etcd: unhealthy; back: healthy again.
    assert.equal(await health(b), 200);
    shared.proxy.blackhole();
    await waitUntil(async () => (await health(b!)) === 503, { timeoutMs: 15_000, message: 'b unhealthy' });
    shared.proxy.restore();
    await waitUntil(async () => (await health(b!)) === 200, {
      timeoutMs: 15_000,
      message: 'b healthy again',
    });
    t.diagnostic(`b: ${sumMetric(await scrape(b), WAITS)} lock waits recorded`);

    b.child.kill('SIGINT');
    assert.equal(await b.exited, 0, b.out());
    assert.deepEqual(await shared.cluster.client().getAll().prefix('services/metrics-demo/').keys(), []);
  } finally {
    shared.proxy.restore();
    for (const instance of [a, b]) {
      if (instance && instance.child.exitCode === null) instance.child.kill('SIGKILL');
    }
  }
});
