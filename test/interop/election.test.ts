// concord.election(name, { layout: 'go' }) against etcd's Go client: `etcdctl elect name value`
// is Go's concurrency.NewElection(session, name).Campaign(value), `etcdctl elect -l name` its
// Observe. Both put `<name>/<lease hex>` keys holding the value and queue by create revision.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filter, firstValueFrom, type Observable } from 'rxjs';
import type { Leadership } from '../../src/election/leadership.js';
import type { LeaderInfo } from '../../src/election/types.js';
import { useCluster } from '../support/fixture.js';
import { settled, sleep, waitUntil } from '../support/wait.js';
import { type Contender, etcdctlOf, queue, takeTurns } from './helpers.js';

const shared = useCluster({ concord: {} });
const etcdctl = etcdctlOf(shared);
let seq = 0;

const fresh = () => `interop-elect-${++seq}`;

/** Subscribes to a campaign: `elected` resolves with the leadership; `stop` resigns or withdraws. */
function campaign(observable: Observable<Leadership>) {
  let resolve!: (l: Leadership) => void;
  let reject!: (err: unknown) => void;
  const elected = new Promise<Leadership>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  elected.catch(() => undefined);
  const sub = observable.subscribe({ next: resolve, error: reject });
  return { elected, stop: () => sub.unsubscribe() };
}

function leaderWhere(
  leader$: Observable<LeaderInfo | undefined>,
  pred: (l: LeaderInfo | undefined) => boolean,
): Promise<LeaderInfo | undefined> {
  return firstValueFrom(leader$.pipe(filter(pred)));
}

test("leader$ names a Go leader (etcdctl elect); concord's campaign waits and is elected when Go resigns", async () => {
  const name = fresh();
  const go = etcdctl('elect', name, 'go-leader');
  const [goKey, goValue] = await go.printed(2);
  assert.match(goKey!, new RegExp(`^${name}/[0-9a-f]+$`));
  assert.equal(goValue, 'go-leader');

  const election = shared.concord.election(name, { layout: 'go', ttl: 5 });
  const seen = await leaderWhere(election.leader$, (l) => l !== undefined);
  assert.equal(seen?.key, goKey);
  assert.equal(seen?.value, 'go-leader');
  assert.deepEqual(await election.leader(), seen);
  // The default layout looks elsewhere (election/<name>/): it cannot see a Go leader.
  assert.equal(await shared.concord.election(name).leader(), undefined);

  const run = campaign(election.campaign('node'));
  await waitUntil(async () => (await queue(shared, `${name}/`)).length === 2, { message: 'concord queued' });
  await sleep(200);
  assert.equal(await settled(run.elected), false, 'concord waits while Go leads');
  assert.equal(await go.stop('SIGTERM'), 0);
  const leadership = await run.elected;
  assert.ok(leadership.term > seen!.term);
  assert.deepEqual(await queue(shared, `${name}/`), [leadership.key], 'the Go key is gone: Go resigned');
  const now = await leaderWhere(election.leader$, (l) => l?.key === leadership.key);
  assert.equal(now?.value, 'node');
  run.stop();
});

test('etcdctl elect -l follows a concord leader and its proclaims; a Go candidate is elected when concord resigns', async () => {
  const name = fresh();
  const run = campaign(shared.concord.election(name, { layout: 'go', ttl: 5 }).campaign('node-a'));
  const leadership = await run.elected;
  const observer = etcdctl('elect', '-l', name);
  assert.deepEqual(await observer.printed(2), [leadership.key, 'node-a']);
  await leadership.proclaim('node-a:busy');
  assert.deepEqual((await observer.printed(4)).slice(2), [leadership.key, 'node-a:busy']);

  const go = etcdctl('elect', name, 'go-b');
  await waitUntil(async () => (await queue(shared, `${name}/`)).length === 2, { message: 'Go queued' });
  await sleep(300);
  assert.deepEqual(go.lines, [], 'Go waits while concord leads');
  await leadership.resign();
  const [goKey, goValue] = await go.printed(2);
  assert.equal(goValue, 'go-b');
  assert.deepEqual((await observer.printed(6)).slice(4), [goKey, 'go-b']);
  assert.equal(await go.stop('SIGINT'), 0);
  await observer.stop();
  run.stop();
});

test('Go and concord candidates are elected in the order they campaigned (FIFO), one leader at a time', async (t) => {
  const name = fresh();
  const election = shared.concord.election(name, { layout: 'go', ttl: 5 });
  const first = campaign(election.campaign('first'));
  await first.elected;
  const leaders: Array<string | undefined> = [];
  const follow = election.leader$.subscribe((l) => leaders.push(l?.value));
  const contenders: Contender[] = [];
  for (const who of ['go-1', 'concord-2', 'go-3', 'concord-4', 'go-5']) {
    if (who.startsWith('go')) {
      const go = etcdctl('elect', name, who);
      contenders.push({ name: who, holds: go.printed(2, 30_000), release: () => go.stop() });
    } else {
      const run = campaign(election.campaign(who));
      contenders.push({ name: who, holds: run.elected, release: async () => (await run.elected).resign() });
    }
    await waitUntil(async () => (await queue(shared, `${name}/`)).length === contenders.length + 1, {
      message: `${who} queued`,
    });
  }
  const order = await takeTurns(t, async () => first.stop(), contenders);
  assert.deepEqual(
    order,
    contenders.map((c) => c.name),
  );
  await waitUntil(() => leaders.at(-1) === undefined, { message: 'no leader left' });
  follow.unsubscribe();
  // leader$ named every leader in turn (each once: values never repeat in this queue).
  assert.deepEqual(
    leaders.filter((v) => v !== undefined),
    ['first', ...order],
  );
});
