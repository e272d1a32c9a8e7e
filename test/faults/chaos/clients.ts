import type { EtcdCluster } from '../../support/etcd.js';
import { startProxy } from '../../support/proxy.js';
import { spawnWorker, type WorkerMessage } from '../../support/worker.js';
import type { ChaosClient } from './faults.js';
import type { WorkerCommand, WorkerEvent } from './protocol.js';

const WORKER_SCRIPT = new URL('./worker.ts', import.meta.url).pathname;

/**
 * Starts `count` chaos worker processes, each reaching every member through a proxy of its own
 * (so one client can be cut off without touching the others), and waits until each is ready.
 * Worker w0 also writes the live config.
 */
export async function startClients(
  cluster: EtcdCluster,
  count: number,
  settings: { seed: number; ttlSeconds: number },
): Promise<ChaosClient[]> {
  const clients: ChaosClient[] = [];
  for (let i = 0; i < count; i++) {
    const proxies = await Promise.all(cluster.endpoints.map((endpoint) => startProxy(endpoint)));
    const id = `w${i}`;
    const worker = spawnWorker(WORKER_SCRIPT, {
      env: {
        CHAOS_WORKER: id,
        CHAOS_ENDPOINTS: proxies.map((p) => p.endpoint).join(','),
        CHAOS_TTL: String(settings.ttlSeconds),
        // Each worker paces itself from its own stream, derived from the run's seed.
        CHAOS_SEED: String((settings.seed + 7919 * (i + 1)) >>> 0),
        CHAOS_WRITER: i === 0 ? '1' : '0',
      },
    });
    clients.push({ id, worker, proxies });
  }
  await Promise.all(clients.map((c) => c.worker.waitFor((m) => m.type === 'ready', 60_000)));
  return clients;
}

/** Sends `command` to every client and resolves with each one's first answer of type `reply` sent after it. */
export async function askAll(
  clients: readonly ChaosClient[],
  command: WorkerCommand,
  reply: WorkerEvent['type'],
  timeoutMs: number,
): Promise<WorkerMessage[]> {
  return Promise.all(
    clients.map((client) => {
      const since = client.worker.all().length;
      client.worker.send(command);
      return client.worker.waitFor((m) => m.type === reply, timeoutMs, { since });
    }),
  );
}

/** Every message of `type` any client sent, in order per client. */
export function eventsOf<T extends WorkerEvent['type']>(
  clients: readonly ChaosClient[],
  type: T,
): Array<Extract<WorkerEvent, { type: T }>> {
  return clients.flatMap((c) => c.worker.all().filter((m) => m.type === type)) as unknown as Array<
    Extract<WorkerEvent, { type: T }>
  >;
}

/** Ends every client process and closes its proxies. */
export async function stopClients(clients: readonly ChaosClient[]): Promise<void> {
  await Promise.all(
    clients.map(async (client) => {
      await client.worker.kill();
      await Promise.all(client.proxies.map((p) => p.close()));
    }),
  );
}
