// The 'go' key layout of elections: keys, names, one campaign per session. (Campaigning together
// with the real Go client, etcdctl, is in test/interop/election.test.ts.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { firstValueFrom, type Observable, skipWhile } from 'rxjs';
import { type EtcdCluster, startCluster } from '../../test/support/etcd.js';
import { waitUntil } from '../../test/support/wait.js';
import { Concord } from '../concord.js';
import { InvalidArgumentError } from '../errors.js';
import type { Leadership } from './leadership.js';

let cluster: EtcdCluster;
let concord: Concord;

before(async () => {
  cluster = await startCluster();
  concord = new Concord({ endpoints: cluster.endpoints });
});

after(async () => {
  await concord?.close();
  await cluster?.stop();
});

/** Subscribes and resolves with the first leadership (the subscription stays open). */
function elected(campaign: Observable<Leadership>): { leadership: Promise<Leadership>; stop: () => void } {
  let resolve!: (l: Leadership) => void;
  let reject!: (err: unknown) => void;
  const leadership = new Promise<Leadership>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  leadership.catch(() => undefined);
  const sub = campaign.subscribe({ next: resolve, error: reject });
  return { leadership, stop: () => sub.unsubscribe() };
}

async function keysUnder(prefix: string): Promise<Record<string, string>> {
  return cluster.client().getAll().prefix(prefix).strings();
}

test("go layout: the key is <name>/<lease id hex> holding the value, as Go's concurrency.Election puts it", async () => {
  const session = await concord.session({ ttl: 5 });
  const election = concord.election('svc/leader', { layout: 'go', session });
  assert.equal(election.layout, 'go');
  const run = elected(election.campaign('node-1'));
  const leadership = await run.leadership;
  const key = `svc/leader/${BigInt(session.leaseId).toString(16)}`;
  assert.equal(leadership.key, key);
  assert.deepEqual(await keysUnder('svc/leader/'), { [key]: 'node-1' });
  assert.deepEqual(await keysUnder('election/'), {});
  assert.deepEqual(await election.leader(), { key, value: 'node-1', term: leadership.term });
  run.stop();
  await waitUntil(async () => Object.keys(await keysUnder('svc/leader/')).length === 0);
  await session.close();
});

test('the default layout is etcd3 (election/<name>/) and never sees go-layout candidates', async () => {
  const go = elected(concord.election('shared', { layout: 'go', ttl: 5 }).campaign('go'));
  await go.leadership;
  const plain = concord.election('shared', { ttl: 5 });
  assert.equal(plain.layout, 'etcd3');
  assert.equal(await plain.leader(), undefined);
  const other = elected(plain.campaign('etcd3'));
  assert.match((await other.leadership).key, /^election\/shared\/[0-9a-f]+-\d+$/);
  go.stop();
  other.stop();
});

test('names: the go layout takes Go names with /, the etcd3 layout one segment; layout is checked', () => {
  assert.doesNotThrow(() => concord.election('/app/leader', { layout: 'go' }));
  const rejects = (call: () => unknown, argument: string) =>
    assert.throws(call, (err: unknown) => err instanceof InvalidArgumentError && err.argument === argument);
  rejects(() => concord.election('a/b'), 'name');
  rejects(() => concord.election('a/b', { layout: 'etcd3' }), 'name');
  rejects(() => concord.election('', { layout: 'go' }), 'name');
  rejects(() => concord.election('x', { layout: 'Go' as never }), 'options.layout');
});

test('go layout: a second campaign on the same session while one is open errors; later ones work', async () => {
  const session = await concord.session({ ttl: 5 });
  const election = concord.election('once', { layout: 'go', session });
  const first = elected(election.campaign('a'));
  const leadership = await first.leadership;
  const second = elected(election.campaign('b'));
  await assert.rejects(
    second.leadership,
    (err: unknown) => err instanceof InvalidArgumentError && err.argument === 'options.session',
  );
  assert.ok(leadership.isLeader, 'the refused campaign touched nothing');
  // whileLeader may campaign again (requeue) while a term drains: it needs a session per term.
  assert.throws(
    () => election.whileLeader('w', async () => undefined),
    (err: unknown) => err instanceof InvalidArgumentError && err.argument === 'options.session',
  );
  assert.equal((await election.leader())?.value, 'a');

  // Ended (unsubscribed) and at once campaigned again: the new campaign waits for the old key to
  // go and then puts its own (same name, new create revision), never adopting the resigning key.
  first.stop();
  const third = elected(election.campaign('c'));
  const next = await third.leadership;
  assert.equal(next.key, leadership.key);
  assert.ok(next.term > leadership.term);
  assert.deepEqual(await keysUnder('once/'), { [next.key]: 'c' });
  third.stop();

  // A separate session per campaign is the way to campaign twice at once: they queue.
  const other = concord.election('once', { layout: 'go', ttl: 5 });
  const a = elected(election.campaign('a2'));
  await a.leadership;
  const b = elected(other.campaign('b2'));
  await waitUntil(async () => Object.keys(await keysUnder('once/')).length === 2);
  a.stop();
  assert.equal((await b.leadership).value, 'b2');
  b.stop();
  await session.close();
});

test("go layout: a session's leftover key is resumed with the new value, as Go does", async () => {
  const session = await concord.session({ ttl: 5 });
  const key = `resume/${BigInt(session.leaseId).toString(16)}`;
  // What a campaign whose resignation could not reach etcd leaves behind.
  await cluster.client().put(key).value('old').lease(session.leaseId);
  const election = concord.election('resume', { layout: 'go', session });
  const run = elected(election.campaign('new'));
  const leadership = await run.leadership;
  assert.equal(leadership.key, key);
  assert.deepEqual(await keysUnder('resume/'), { [key]: 'new' });
  const seen = await firstValueFrom(election.leader$.pipe(skipWhile((l) => l?.value !== 'new')));
  assert.equal(seen?.key, key);
  run.stop();
  await session.close();
});
