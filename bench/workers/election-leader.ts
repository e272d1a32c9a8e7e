// Child process of the crash-failover scenario: campaigns in an election and reports
// { type: 'elected' } once it leads; the parent then SIGKILLs it (a crash: no resign, no revoke).
// argv: <concord|etcd3> <endpoints,comma,separated> <election name> <ttl seconds> <concord bundle path>
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { onMessage, send } from '../../test/support/worker-child.js';
import type { ConcordApi } from '../lib/concord.js';

const [mode, endpointList, name, ttlArg, bundle] = process.argv.slice(2);
const endpoints = endpointList!.split(',');
const ttl = Number(ttlArg);

if (mode === 'concord') {
  const { Concord } = (await import(bundle!)) as ConcordApi;
  const concord = new Concord({ endpoints });
  concord
    .election(name!, { ttl })
    .campaign('crashing-leader')
    .subscribe({
      next: (leadership) => send({ type: 'elected', key: leadership.key }),
      error: (err: unknown) => send({ type: 'failed', error: String(err) }),
    });
} else {
  const client = new Etcd3({ hosts: endpoints, faultHandling: { host: () => noop } });
  const campaign = client.election(name!, ttl).campaign('crashing-leader');
  campaign.on('elected', async () => send({ type: 'elected', key: await campaign.getCampaignKey() }));
  campaign.on('error', (err: Error) => send({ type: 'failed', error: err.message }));
}
// Keeps the process alive until the parent kills it or closes stdin.
onMessage(() => undefined);
