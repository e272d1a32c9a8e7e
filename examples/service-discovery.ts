// Service registry and discovery demo, built the way hand-written etcd registry/discovery pairs
// usually are: each instance of a "greeter" HTTP service is its own process that registers
// `services/greeter/<id>` under a lease; a client process follows the instances with up/down
// callbacks and spreads its calls over them round-robin. One instance crashes (SIGKILL: its
// lease expires), one stops gracefully (drain, finish the requests in flight, deregister), and
// the client adapts.
//
//   npx tsx examples/service-discovery.ts               starts its own etcd (needs the etcd binary)
//   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/service-discovery.ts
//
// Exits 0 by itself once the last instance is gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Concord, type ServiceChange } from 'concord-etcd';
import { ensureEtcd } from './support/local-etcd.js';

const SERVICE = 'greeter';
const TTL = 2;
const TIMEOUT_MS = 60_000;

/**
 * One service instance: an HTTP server that registers itself, and on SIGTERM shuts down
 * gracefully: drain (pickers stop choosing it), let the requests in flight finish, deregister.
 */
async function instance(id: string): Promise<void> {
  const log = (line: string) => console.log(`[instance ${id}] ${line}`);
  const concord = new Concord();
  const server = createServer((_req, res) => res.end(`hello from ${id}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const registration = await concord
    .registry()
    .register({ service: SERVICE, id, address, meta: { pid: process.pid } }, { ttl: TTL });
  log(`registered ${registration.key} at ${address}`);
  process.once('SIGTERM', () => {
    void (async () => {
      await registration.drain();
      log('draining: no new requests come');
      // close() stops accepting connections and resolves once the requests in flight are done.
      await new Promise((resolve) => server.close(resolve));
      await registration.deregister();
      log('deregistered, shutting down');
      await concord.close();
    })();
  });
}

/** The client: follows the instances, calls them round-robin, starts and stops them. */
async function client(): Promise<void> {
  const log = (line: string) => console.log(`[client]     ${line}`);
  const etcd = await ensureEtcd(log);
  const concord = new Concord();
  const children: ChildProcess[] = [];
  const timer = setTimeout(() => {
    log(`gave up after ${TIMEOUT_MS} ms`);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  }, TIMEOUT_MS);
  try {
    await concord.etcd.delete().prefix(`services/${SERVICE}/`);
    const discovery = concord.discovery();

    // The up/down callbacks, and a way to wait until a given change has been seen.
    const seen: ServiceChange[] = [];
    const waiters = new Set<() => void>();
    const onUp = (c: ServiceChange) => log(`up     ${c.instance.id} at ${c.instance.address}`);
    const onDown = (c: ServiceChange) => log(`down   ${c.instance.id} (was at ${c.instance.address})`);
    const following = discovery.changes$(SERVICE).subscribe((change) => {
      if (change.type === 'up') onUp(change);
      if (change.type === 'down') onDown(change);
      seen.push(change);
      for (const wake of [...waiters]) wake();
    });
    const changeSeen = (type: ServiceChange['type'], id: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!seen.some((c) => c.type === type && c.instance.id === id)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });

    using picker = discovery.picker(SERVICE, { strategy: 'round-robin' });
    await picker.ready();
    const call = async (times: number) => {
      for (let i = 0; i < times; i++) {
        const target = picker.next();
        if (!target) {
          log('call   -> no instance is up');
          continue;
        }
        const reply = await (await fetch(`http://${target.address}/`)).text();
        log(`call   -> ${target.id}: ${reply}`);
      }
    };

    const start = (id: string) => {
      const child = spawn(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), 'instance', id],
        {
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      children.push(child);
      return { child, exited: new Promise<void>((resolve) => child.once('exit', () => resolve())) };
    };

    const a = start('a');
    const b = start('b');
    await Promise.all([changeSeen('up', 'a'), changeSeen('up', 'b')]);
    await call(4);

    const c = start('c');
    await changeSeen('up', 'c');
    await call(3);

    log('crashing instance b (SIGKILL): it disappears when its lease expires');
    const crashedAt = Date.now();
    b.child.kill('SIGKILL');
    await changeSeen('down', 'b');
    log(`b went down ${((Date.now() - crashedAt) / 1000).toFixed(1)} s after the crash (TTL ${TTL} s)`);
    await call(4);

    log('stopping instance a (SIGTERM): it drains, finishes its requests and deregisters');
    a.child.kill('SIGTERM');
    await changeSeen('down', 'a');
    await a.exited;
    await call(2);

    log('stopping instance c (SIGTERM)');
    c.child.kill('SIGTERM');
    await changeSeen('down', 'c');
    await c.exited;
    await call(1);
    following.unsubscribe();
    log('done');
  } finally {
    clearTimeout(timer);
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await concord.close();
    await etcd.stop();
  }
}

await (process.argv[2] === 'instance' ? instance(process.argv[3]!) : client());
