// Prometheus metrics and a health check for a service that coordinates through concord: it
// registers itself, campaigns for leadership, and runs a job every second under a lock. Its
// /metrics (prom-client) is fed by concord.events$; its /healthz answers 200 while the Concord is
// connected and the service's session is alive, 503 otherwise. SIGINT or SIGTERM releases
// everything (job lock, leadership, registration, session) and exits 0.
//
//   npx tsx examples/prometheus.ts                 starts its own etcd (needs the etcd binary)
//   ETCD_ENDPOINTS=127.0.0.1:2379 PORT=9464 npx tsx examples/prometheus.ts
//   curl -s 127.0.0.1:9464/metrics | grep ^concord
//
// Run two of them on one etcd and stop the leader: the other's concord_leader goes to 1.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Concord, type ConcordEvent, type ConnectionState } from 'concord-etcd';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ensureEtcd } from './support/local-etcd.js';

const NAME = 'metrics-demo';
const JOB_EVERY_MS = Number(process.env.JOB_EVERY_MS ?? 1_000);
const id = process.env.INSTANCE_ID ?? randomUUID().slice(0, 8);
const log = (line: string) => console.log(`[${id}] ${line}`);

/** Prometheus metrics fed by `concord.events$`, plus gauges read from the Concord when scraped. */
function concordMetrics(concord: Concord, registry: Registry): (event: ConcordEvent) => void {
  const registers = [registry];
  const events = new Counter({
    name: 'concord_events_total',
    help: 'concord events by type',
    labelNames: ['type'],
    registers,
  });
  const lockWait = new Histogram({
    name: 'concord_lock_wait_seconds',
    help: 'Time from asking for a lock to holding it',
    labelNames: ['lock'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers,
  });
  const lockHold = new Histogram({
    name: 'concord_lock_hold_seconds',
    help: 'Time a lock was held',
    labelNames: ['lock', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
    registers,
  });
  const leaderChanges = new Counter({
    name: 'concord_leader_changes_total',
    help: 'Leader changes observed',
    labelNames: ['election'],
    registers,
  });
  const leader = new Gauge({
    name: 'concord_leader',
    help: '1 while this process leads the election',
    labelNames: ['election'],
    registers,
  });
  const registered = new Gauge({
    name: 'concord_registered',
    help: '1 while the instance is registered (or draining)',
    labelNames: ['service'],
    registers,
  });
  const failures = new Counter({
    name: 'concord_call_failures_total',
    help: 'etcd calls that failed, by concord error code',
    labelNames: ['code'],
    registers,
  });
  new Gauge({
    name: 'concord_sessions',
    help: 'Sessions kept alive',
    registers,
    collect() {
      this.set(concord.sessionStats().open);
    },
  });
  new Gauge({
    name: 'concord_watch_server_watches',
    help: 'Server-side etcd watches',
    registers,
    collect() {
      this.set(concord.watchStats().upstreamWatches);
    },
  });
  return (event) => {
    events.inc({ type: event.type });
    if (event.type === 'lock.acquired') lockWait.observe({ lock: event.name }, event.waitMs / 1000);
    if (event.type === 'lock.released' || event.type === 'lock.lost') {
      const outcome = event.type === 'lock.released' ? 'released' : 'lost';
      lockHold.observe({ lock: event.name, outcome }, event.holdMs / 1000);
    }
    if (event.type === 'leader.changed') leaderChanges.inc({ election: event.name });
    if (event.type === 'election.elected') leader.set({ election: event.name }, 1);
    if (event.type === 'election.resigned' || event.type === 'election.lost')
      leader.set({ election: event.name }, 0);
    if (event.type === 'registration.state') {
      const live = event.status === 'registered' || event.status === 'draining';
      registered.set({ service: event.service }, live ? 1 : 0);
    }
    if (event.type === 'call.failed') failures.inc({ code: event.code });
  };
}

const etcd = await ensureEtcd(log);
const concord = new Concord();
const registry = new Registry();
const events = concord.events$.subscribe(concordMetrics(concord, registry));
let state: ConnectionState = 'connecting';
const states = concord.state$.subscribe((s) => {
  state = s;
});

// One session for the registration, the campaign and the job lock: /healthz follows it.
const session = await concord.session({ ttl: 5 });
const server = createServer((req, res) => {
  if (req.url === '/metrics') {
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  } else if (req.url === '/healthz') {
    const healthy = state === 'connected' && session.isAlive;
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ state, session: session.isAlive ? 'alive' : 'lost' }));
  } else res.writeHead(404).end();
});
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const registration = await concord.registry().register({ service: NAME, id, address: url }, { session });
const election = concord.election(NAME, { session });
const leading = election.leader$.subscribe((info) => log(`leader: ${info ? info.value : 'none'}`));
const campaign = election.campaign(id).subscribe({
  next: () => log('elected'),
  error: (err: unknown) => log(`campaign ended: ${String(err)}`),
});
// The job: take the lock, work 50 ms, give it back; again JOB_EVERY_MS later, until shutdown.
const stop = new AbortController();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const job = (async () => {
  while (!stop.signal.aborted) {
    try {
      const lock = await concord.mutex(`${NAME}-job`, { session }).lock({ signal: stop.signal });
      await sleep(50);
      await lock.release();
    } catch (err) {
      if (!stop.signal.aborted) log(`job failed: ${String(err)}`);
    }
    await sleep(JOB_EVERY_MS);
  }
})();
log(`metrics on ${url}/metrics, health on ${url}/healthz`);

async function shutdown(signal: string): Promise<void> {
  if (stop.signal.aborted) return;
  log(`${signal}: releasing everything`);
  stop.abort();
  await job;
  campaign.unsubscribe();
  leading.unsubscribe();
  await registration.deregister();
  await session.close();
  states.unsubscribe();
  events.unsubscribe();
  await concord.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await etcd.stop();
  log('released; bye');
  process.exit(0);
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
