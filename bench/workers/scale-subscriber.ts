// Child process of the scale scenario: holds many subscriptions in one process, so that its
// memory is measured on a clean heap and the server drops every watcher when it is killed.
// argv: <concord|etcd3> <endpoints,comma,separated> <prefixes> <perPrefix> <concord bundle path>
// Commands (stdin): { cmd: 'subscribe' } → { type: 'subscribing-done' } (sent, maybe not yet
// confirmed); { cmd: 'measure' } → { type: 'memory', bytesPerSubscription };
// { cmd: 'expect', count } → { type: 'delivered', count } once that many events arrived.
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { onMessage, send } from '../../test/support/worker-child.js';
import type { ConcordApi } from '../lib/concord.js';
import { liveMemory } from '../lib/memory.js';

const [mode, endpointList, prefixArg, perPrefixArg, bundle] = process.argv.slice(2);
const endpoints = endpointList!.split(',');
const prefixes = Number(prefixArg);
const perPrefix = Number(perPrefixArg);
const prefix = (p: number) => `bench/scale/p${String(p).padStart(4, '0')}/`;

let delivered = 0;
let expected = Number.POSITIVE_INFINITY;
const onEvents = (count: number) => {
  delivered += count;
  if (delivered >= expected) {
    send({ type: 'delivered', count: delivered });
    expected = Number.POSITIVE_INFINITY;
  }
};

// Returns a function that adds the subscriptions for one prefix.
async function open(): Promise<(p: number) => Promise<void>> {
  if (mode === 'concord') {
    const { Concord } = (await import(bundle!)) as ConcordApi;
    const concord = new Concord({ endpoints });
    // The stream and a first watch exist before the baseline, so only subscriptions are counted.
    concord.watch({ key: 'bench/scale/warm' }).subscribe();
    await concord.etcd.get('bench/warm').string();
    return async (p) => {
      for (let i = 0; i < perPrefix; i++) {
        concord.watch({ prefix: prefix(p) }).subscribe((batch) => {
          if (batch.type === 'events') onEvents(batch.events.length);
        });
      }
    };
  }
  const client = new Etcd3({ hosts: endpoints, faultHandling: { host: () => noop } });
  await client.watch().key('bench/scale/warm').create();
  return async (p) => {
    for (let i = 0; i < perPrefix; i++) {
      const watcher = await client.watch().prefix(prefix(p)).create();
      watcher.on('data', (res) => onEvents(res.events.length));
    }
  };
}

const add = await open();
const baseline = liveMemory();
send({ type: 'ready' });
onMessage((raw) => {
  const msg = raw as { cmd: string; count?: number };
  if (msg.cmd === 'subscribe') {
    void (async () => {
      for (let p = 0; p < prefixes; p++) await add(p);
      send({ type: 'subscribing-done' });
    })();
  } else if (msg.cmd === 'measure') {
    send({ type: 'memory', bytesPerSubscription: (liveMemory() - baseline) / (prefixes * perPrefix) });
  } else if (msg.cmd === 'expect') {
    expected = msg.count!;
    if (delivered >= expected) onEvents(0);
  }
});
