// ViewCache (with the map fold) on a fake read and a fake attach: one read and one watch shared by
// every subscriber.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Observable } from 'rxjs';
import type { RangeList } from './range.js';
import type { KeyValue, WatchBatch } from './types.js';
import type { Sink } from './upstream.js';
import { type CachedView, mapFold, type Projection, ViewCache } from './view-cache.js';

interface Parsed {
  text: string;
  revision: bigint;
}

const kv = (key: string, revision: number, value = `v${revision}`): KeyValue => ({
  key,
  value: Buffer.from(value),
  createRevision: BigInt(revision),
  modRevision: BigInt(revision),
  version: 1n,
  lease: '0',
});

function harness() {
  let projected = 0;
  const projection: Projection<Parsed> = {
    id: 'parsed',
    project: (entry) => {
      projected++;
      return { text: entry.value.toString(), revision: entry.modRevision };
    },
    revisionOf: (value) => value.revision,
  };
  const reads: {
    signal: AbortSignal;
    resolve(snapshot: RangeList<Parsed>): void;
    reject(e: Error): void;
  }[] = [];
  let sink: Sink | undefined;
  let detached = 0;
  let idle = 0;
  const cache = new ViewCache(
    mapFold(projection),
    (signal) => new Promise((resolve, reject) => reads.push({ signal, resolve, reject })),
    (s) => {
      sink = s;
      return () => detached++;
    },
    () => idle++,
  );
  const views$ = new Observable<CachedView<Parsed>>((subscriber) => cache.subscribe(subscriber));
  /** Answers the pending read with `entries` (projected as the real read does) at `revision`. */
  const load = async (revision: number, entries: KeyValue[]) => {
    const read = reads.shift();
    assert.ok(read, 'a read is pending');
    read.resolve({
      revision: BigInt(revision),
      keys: entries.map((e) => e.key),
      values: entries.map((e) => projection.project(e)),
      pages: 1,
    });
    await new Promise((resolve) => setImmediate(resolve));
  };
  const collect = () => {
    const views: CachedView<Parsed>[] = [];
    const errors: unknown[] = [];
    const subscription = views$.subscribe({ next: (v) => views.push(v), error: (e) => errors.push(e) });
    return { views, errors, subscription };
  };
  return {
    cache,
    reads,
    load,
    collect,
    deliver: (batch: WatchBatch) => sink?.next(batch),
    sink: () => sink,
    projected: () => projected,
    detached: () => detached,
    idle: () => idle,
  };
}

const texts = (view: CachedView<Parsed> | undefined) =>
  Object.fromEntries([...(view?.entries ?? [])].map(([k, v]) => [k, v.text]));

test('the first subscriber triggers one read, then a watch from the revision after it', async () => {
  const h = harness();
  const a = h.collect();
  assert.equal(h.reads.length, 1);
  await h.load(7, [kv('a/x', 3), kv('a/y', 5)]);
  assert.equal(h.sink()?.from, 8n);
  assert.equal(h.sink()?.internal, true, 'not counted as a subscriber by watchStats');
  assert.equal(a.views.length, 1);
  assert.equal(a.views[0]?.revision, 7n);
  assert.deepEqual(texts(a.views[0]), { 'a/x': 'v3', 'a/y': 'v5' });
  h.deliver({ type: 'events', revision: 8n, events: [{ type: 'put', kv: kv('a/z', 8) }] });
  assert.deepEqual(texts(a.views[1]), { 'a/x': 'v3', 'a/y': 'v5', 'a/z': 'v8' });
  h.deliver({ type: 'events', revision: 9n, events: [{ type: 'delete', kv: kv('a/x', 9) }] });
  assert.deepEqual(texts(a.views[2]), { 'a/y': 'v5', 'a/z': 'v8' });
  assert.deepEqual(
    texts(a.views[1]),
    { 'a/x': 'v3', 'a/y': 'v5', 'a/z': 'v8' },
    'handed-out views never change',
  );
});

test('a late subscriber gets the cached view at once without a read, then the same views', async () => {
  const h = harness();
  const a = h.collect();
  const early = h.collect();
  assert.equal(h.reads.length, 1, 'subscribers during the first read share it');
  await h.load(4, [kv('a/x', 2)]);
  h.deliver({ type: 'progress', revision: 6n });
  assert.equal(a.views.length, 1, 'progress changes nothing and is not emitted');
  const late = h.collect();
  assert.equal(h.reads.length, 0, 'no read for the late subscriber');
  assert.equal(late.views.length, 1);
  assert.equal(late.views[0]?.revision, 6n, 'with the revision progress moved to');
  assert.equal(late.views[0]?.entries, a.views[0]?.entries);
  h.deliver({ type: 'events', revision: 7n, events: [{ type: 'put', kv: kv('a/y', 7) }] });
  assert.equal(late.views[1], a.views[1], 'every subscriber gets the same View object');
  assert.equal(early.views[1], a.views[1]);
  assert.equal(h.cache.subscribers, 3);
});

test('a resync keeps the projected values of unchanged keys and projects only the rest', async () => {
  const h = harness();
  const a = h.collect();
  await h.load(5, [kv('a/same', 2), kv('a/changed', 3), kv('a/gone', 4)]);
  const before = a.views[0];
  const projectedBefore = h.projected();
  const snapshot = new Map([
    ['a/same', kv('a/same', 2)],
    ['a/changed', kv('a/changed', 9, 'new')],
    ['a/added', kv('a/added', 10)],
  ]);
  h.deliver({ type: 'resync', revision: 12n, snapshot, compactRevision: 11n });
  const after = a.views[1];
  assert.equal(after?.revision, 12n);
  assert.deepEqual(texts(after), { 'a/same': 'v2', 'a/changed': 'new', 'a/added': 'v10' });
  assert.equal(
    after?.entries.get('a/same'),
    before?.entries.get('a/same'),
    'the same object, not re-projected',
  );
  assert.equal(h.projected() - projectedBefore, 2, 'only the changed and the added key are projected');
});

test('the last unsubscribe detaches the watch and idles the cache; the next subscriber reads afresh', async () => {
  const h = harness();
  const a = h.collect();
  const b = h.collect();
  await h.load(3, []);
  a.subscription.unsubscribe();
  assert.equal(h.detached(), 0, 'one subscriber is left');
  b.subscription.unsubscribe();
  assert.equal(h.detached(), 1);
  assert.equal(h.idle(), 1);
  assert.equal(h.cache.subscribers, 0);
  h.collect();
  assert.equal(h.reads.length, 1, 'nothing cached any more');
});

test('leaving during the first read aborts it and never attaches', async () => {
  const h = harness();
  const a = h.collect();
  const read = h.reads[0];
  a.subscription.unsubscribe();
  assert.ok(read?.signal.aborted);
  read?.reject(new Error('aborted'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(h.sink(), undefined);
  assert.deepEqual(a.errors, []);
  assert.equal(h.idle(), 1);
});

test('a failed read or a failed watch errors every subscriber', async () => {
  const h = harness();
  const a = h.collect();
  h.reads.shift()?.reject(new Error('denied'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(a.errors.length, 1);
  assert.match(String(a.errors[0]), /denied/);

  const b = h.collect();
  await h.load(2, []);
  h.sink()?.error(new Error('watch refused'));
  assert.match(String(b.errors[0]), /watch refused/);
  assert.equal(h.detached(), 1);
  assert.equal(h.cache.subscribers, 0);
});
