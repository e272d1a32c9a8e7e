// The Judge on hand-made views (no etcd involved): what each revision comes to, and what it costs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VersionedMap } from '../watch/versioned-map.js';
import type { CachedView } from '../watch/view-cache.js';
import { deepFreeze } from './data.js';
import type { ConfigRules } from './evaluate.js';
import { Judge, type Judgement } from './judge.js';
import type { ConfigKey } from './projection.js';
import type { StandardSchemaV1 } from './standard-schema.js';

/** Feeds views of `prefix` to a Judge, one revision at a time, and records its judgements. */
class Feed {
  readonly judged: { judgement: Judgement; revision: bigint }[] = [];
  readonly #judge: Judge;
  readonly #prefix: string;
  #entries: VersionedMap<ConfigKey> | undefined;
  #revision = 1n;

  constructor(prefix: string, rules: ConfigRules) {
    this.#prefix = prefix;
    this.#judge = new Judge(prefix, rules, (judgement, revision) =>
      this.judged.push({ judgement, revision }),
    );
  }

  /** One revision: `changes` maps paths to values (undefined deletes); `resync` starts a new map lineage. */
  write(changes: Record<string, unknown>, { resync = false } = {}): Judgement | undefined {
    const revision = ++this.#revision;
    const updates = Object.entries(changes).map(
      ([path, value]) =>
        [
          this.#prefix + path,
          value === undefined ? undefined : { modRevision: revision, value: deepFreeze(value) },
        ] as const,
    );
    const previous = this.#entries;
    if (previous === undefined || resync) {
      const map = new Map(previous ?? []);
      for (const [key, entry] of updates) {
        if (entry) map.set(key, entry);
        else map.delete(key);
      }
      this.#entries = VersionedMap.from(map);
    } else {
      this.#entries = previous.update(updates);
    }
    const before = this.judged.length;
    const view: CachedView<ConfigKey> = { revision, entries: this.#entries };
    this.#judge.judge(view);
    return this.judged.length > before ? this.judged.at(-1)!.judgement : undefined;
  }
}

const plain: ConfigRules = { defaults: undefined, schema: undefined };

/** A schema that counts its calls and wants `pool` to be a number below 100. */
function countingSchema(): { schema: StandardSchemaV1; calls: () => number } {
  let calls = 0;
  const schema: StandardSchemaV1 = {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value) => {
        calls++;
        const pool = (value as { pool?: unknown }).pool;
        return typeof pool === 'number' && pool < 100
          ? { value }
          : { issues: [{ message: 'pool must be a number below 100', path: ['pool'] }] };
      },
    },
  };
  return { schema, calls: () => calls };
}

describe('Judge', () => {
  test('an equal rewrite is `same`; an overwritten leaf is known to change the value', () => {
    const feed = new Feed('app/', plain);
    assert.deepEqual(feed.write({ 'db/pool': 5, name: 'n' }), {
      ok: true,
      value: { db: { pool: 5 }, name: 'n' },
    });
    assert.deepEqual(feed.write({ 'db/pool': 5 }), { ok: true, same: true });
    assert.deepEqual(
      feed.write({ 'db/pool': 5.0 }),
      { ok: true, same: true },
      'the same number spelled differently',
    );
    assert.deepEqual(feed.write({ 'db/pool': 6 }), {
      ok: true,
      value: { db: { pool: 6 }, name: 'n' },
      changed: true,
    });
    // An added key may equal a default showing through: the value is compared by the caller.
    assert.deepEqual(feed.write({ extra: 1 }), { ok: true, value: { db: { pool: 6 }, name: 'n', extra: 1 } });
    assert.deepEqual(
      feed.write({}, { resync: true }),
      { ok: true, same: true },
      'a resync with equal entries',
    );
  });

  test('validates only when the value changed, and blames the changed key', () => {
    const { schema, calls } = countingSchema();
    const feed = new Feed('app/', { defaults: undefined, schema });
    assert.equal(feed.write({ pool: 5, other: 'x' })?.ok, true);
    assert.equal(calls(), 1);
    feed.write({ pool: 5 });
    feed.write({ other: 'x' });
    assert.equal(calls(), 1, 'equal rewrites are not validated');
    const rejected = feed.write({ pool: 500 });
    assert.deepEqual(rejected, {
      ok: false,
      path: 'pool',
      issues: ['pool: pool must be a number below 100'],
    });
    assert.equal(calls(), 2);
    // After an invalid revision each one is evaluated whole, and an identical resync is not judged again.
    assert.equal(feed.write({}, { resync: true }), undefined);
    assert.equal(feed.write({ pool: 7 })?.ok, true);
    assert.equal(calls(), 3);
  });

  test('keys that cannot map are reported; a later fix is judged whole', () => {
    const feed = new Feed('app/', plain);
    feed.write({ db: 1 });
    const clash = feed.write({ 'db/pool': 2 });
    assert.equal(clash?.ok, false);
    assert.deepEqual(feed.write({ db: undefined }), { ok: true, value: { db: { pool: 2 } } });
  });

  test('the empty prefix skips the status area', () => {
    const feed = new Feed('', plain);
    assert.deepEqual(feed.write({ a: 1, 'config-status/app/i1': { status: 'applied' } }), {
      ok: true,
      value: { a: 1 },
    });
    assert.deepEqual(feed.write({ 'config-status/app/i2': { status: 'applied' } }), { ok: true, same: true });
  });

  test('a one-key change among 10,000 keys is judged without touching the others', (t) => {
    const keys: Record<string, unknown> = {};
    for (let i = 0; i < 10_000; i++) keys[`s${i % 100}/k${i}`] = i;
    const feed = new Feed('big/', plain);
    const loading = performance.now();
    feed.write(keys);
    const whole = performance.now() - loading;
    const started = performance.now();
    for (let i = 0; i < 1000; i++)
      assert.equal((feed.write({ 's1/k1': -i }) as { changed?: boolean }).changed, true);
    const perChange = (performance.now() - started) / 1000;
    // Reported, not asserted (timings on a loaded machine): the change against a whole evaluation.
    t.diagnostic(
      `10,000-key config: whole evaluation ${whole.toFixed(1)} ms, one-key change ${(perChange * 1000).toFixed(1)} µs`,
    );
  });
});
