// Child process of the instance-kill scenario: an HTTP server on loopback that registers itself,
// reports { type: 'ready', address }, and serves until the parent SIGKILLs it (a crash: nothing
// is deregistered, the lease has to expire). Both sides register with the default TTL (10 s):
// concord through its registry, etcd3 with a lease and a put of the registry's JSON.
// argv: <concord|etcd3> <endpoints,comma,separated> <service> <id> <concord bundle path>
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { onMessage, send } from '../../test/support/worker-child.js';
import type { ConcordApi } from '../lib/concord.js';

const TTL = 10;
const [mode, endpointList, service, id, bundle] = process.argv.slice(2);
const endpoints = endpointList!.split(',');

const server = createServer((_req, res) => res.end(id));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;

if (mode === 'concord') {
  const { Concord } = (await import(bundle!)) as ConcordApi;
  const concord = new Concord({ endpoints });
  await concord.registry().register({ service: service!, id: id!, address }, { ttl: TTL });
} else {
  const client = new Etcd3({ hosts: endpoints, faultHandling: { host: () => noop } });
  const lease = client.lease(TTL);
  await lease
    .put(`services/${service}/${id}`)
    .value(JSON.stringify({ address, registeredAt: new Date().toISOString() }));
}
send({ type: 'ready', address });
// Keeps the process alive until the parent kills it or closes stdin.
onMessage(() => undefined);
