import { request } from 'node:http';
import { spawnWorker, type Worker } from '../../test/support/worker.js';
import { alternate } from '../lib/alternate.js';
import { CONCORD_BUNDLE } from '../lib/concord.js';
import { PlainConsumer } from '../lib/discovery-baseline.js';
import { deferred, pollUntil, within } from '../lib/etcd.js';
import { median } from '../lib/stats.js';
import type { BenchContext, Scenario, ScenarioOutcome } from '../lib/types.js';

const WORKER = 'bench/workers/http-instance.ts';
const INSTANCES = 3;
const REQUESTS = 300;
const KILL_AFTER = 150;
/** One request every 30 ms, as in the report that prompted this scenario (~30 requests/s). */
const PACE_MS = 30;
const REQUEST_TIMEOUT_MS = 1_000;

interface Round {
  failedAfterKill: number;
  /** SIGKILL → the consumer no longer chooses the dead instance. */
  inRotationMs: number;
}

/** A client's view of the service: picks an address per request and hears how it went. */
interface Consumer {
  /** Resolves once the consumer lists every instance. */
  ready(): Promise<void>;
  /** An address to call and the callback for the outcome; undefined when the consumer has none. */
  pick(): { address: string; done: (ok: boolean) => void } | undefined;
  /** Resolves with the time (performance.now) from which the consumer no longer chooses `id`. */
  outOfRotation(id: string): Promise<number>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One plain HTTP GET on a fresh connection: true for a 200, false for any error or a timeout. */
function get(address: string): Promise<boolean> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const req = request(
      { host: address.slice(0, colon), port: Number(address.slice(colon + 1)), agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * The kill test from the "discovery for real traffic" issue: three HTTP servers on loopback
 * (each its own process) register themselves; a client spreads 300 requests over them, one every
 * 30 ms; after the 150th, one server is SIGKILLed. concord: `picker.next()` and `picker.report()`
 * with the default options; etcd3: the obvious consumer (getAll + watch into a Map, round-robin
 * over its values, no ejection). Both wait for the lease (default TTL 10 s) to drop the dead one.
 */
export const discoveryKill: Scenario = {
  id: 'discovery-kill',
  title: 'Discovery: an instance SIGKILLed under traffic',
  budgetMs: { quick: 90_000, full: 300_000 },
  async run(ctx: BenchContext): Promise<ScenarioOutcome> {
    const rounds = ctx.quick ? 1 : 3;
    let seq = 0;

    const round = async (mode: 'concord' | 'etcd3', open: (service: string) => Consumer): Promise<Round> => {
      const service = `kill-${mode}-${seq++}`;
      const workers: Worker[] = [];
      const stop = ctx.scope.defer(() => Promise.all(workers.map((w) => w.kill())));
      const consumer = open(service);
      try {
        for (let i = 0; i < INSTANCES; i++) {
          workers.push(
            spawnWorker(WORKER, {
              args: [mode, ctx.cluster.endpoints.join(','), service, `i${i}`, CONCORD_BUNDLE],
            }),
          );
        }
        await Promise.all(workers.map((w) => w.waitFor((m) => m.type === 'ready', 30_000)));
        await consumer.ready();
        let failedAfterKill = 0;
        let killedAt = 0;
        let out: Promise<number> | undefined;
        const start = performance.now();
        for (let i = 0; i < REQUESTS; i++) {
          ctx.signal.throwIfAborted();
          if (i === KILL_AFTER) {
            await workers[0]!.kill();
            killedAt = performance.now();
            out = consumer.outOfRotation('i0');
          }
          const picked = consumer.pick();
          const ok = picked ? await get(picked.address) : false;
          picked?.done(ok);
          if (!ok && i >= KILL_AFTER) failedAfterKill++;
          await sleep(start + (i + 1) * PACE_MS - performance.now());
        }
        const outAt = await within('the dead instance out of rotation', out!, 30_000, ctx.signal);
        return { failedAfterKill, inRotationMs: outAt - killedAt };
      } finally {
        await consumer.close();
        await stop();
      }
    };

    const result = await alternate<Round>(
      rounds,
      {
        concord: () =>
          round('concord', (service) => {
            let deadId: string | undefined;
            const out = deferred<number>();
            const concord = ctx.scope.concord({
              logger: {
                info: (message, fields) => {
                  if (/ejected/.test(message) && fields?.id === deadId) out.resolve(performance.now());
                },
              },
            });
            const discovery = concord.discovery();
            const picker = discovery.picker(service);
            const gone = discovery.instances$(service).subscribe((list) => {
              if (deadId !== undefined && !list.some((i) => i.id === deadId)) out.resolve(performance.now());
            });
            return {
              ready: () => pollUntil('3 instances', () => picker.instances.length === INSTANCES, ctx.signal),
              pick: () => {
                const instance = picker.next();
                if (!instance) return undefined;
                return {
                  address: instance.address,
                  done: (ok) => picker.report(instance, ok ? 'ok' : 'error'),
                };
              },
              outOfRotation: (id) => {
                deadId = id;
                return out.promise;
              },
              close: async () => {
                gone.unsubscribe();
                picker.close();
                await concord.close();
              },
            };
          }),
        etcd3: () =>
          round('etcd3', (service) => {
            let deadId: string | undefined;
            const out = deferred<number>();
            const client = ctx.scope.etcd3();
            const consumer = new PlainConsumer(client, `services/${service}/`, (c) => {
              if (deadId !== undefined && !c.instances.has(deadId)) out.resolve(performance.now());
            });
            let turn = 0;
            return {
              ready: async () => {
                await consumer.start();
                await pollUntil('3 instances', () => consumer.instances.size === INSTANCES, ctx.signal);
              },
              pick: () => {
                const list = [...consumer.instances.values()];
                if (list.length === 0) return undefined;
                return { address: list[turn++ % list.length]!.address, done: () => undefined };
              },
              outOfRotation: (id) => {
                deadId = id;
                return out.promise;
              },
              close: async () => {
                await consumer.stop();
                client.close();
              },
            };
          }),
      },
      ctx.signal,
      ctx.progress,
    );
    const both = (f: (r: Round) => number) => ({
      concord: median(result.concord.map(f)),
      etcd3: median(result.etcd3.map(f)),
    });
    return {
      params: { instances: INSTANCES, requests: REQUESTS, killAfter: KILL_AFTER, paceMs: PACE_MS, rounds },
      metrics: [
        {
          name: `failed of the ${REQUESTS - KILL_AFTER} requests after the kill`,
          unit: 'count',
          better: 'lower',
          primary: true,
          ...both((r) => r.failedAfterKill),
        },
        { name: 'dead instance in rotation', unit: 'ms', better: 'lower', ...both((r) => r.inRotationMs) },
      ],
      notes: [
        `Three HTTP servers, each its own process, register with the default TTL (10 s): concord's registry, or an etcd3 lease and a put. A client sends ${REQUESTS} GETs, one every ${PACE_MS} ms on a fresh connection, and SIGKILLs one server after the ${KILL_AFTER}th. concord: \`picker.next()\` + \`picker.report(instance, ok ? 'ok' : 'error')\` with the default ejection (3 errors in a row, 30 s); etcd3: getAll + watch into a Map, round-robin over its values. "In rotation" = SIGKILL → the consumer stops choosing the dead server: concord ejects it (or sees its key expire, whichever comes first); etcd3 only drops it when its lease expires. Median of the rounds.`,
      ],
    };
  },
};
