import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Subscription } from 'rxjs';
import { z } from 'zod';
import { type EtcdCluster, startCluster } from '../../test/support/etcd.js';
import { waitUntil } from '../../test/support/wait.js';
import { Concord } from '../concord.js';
import {
  ClosedError,
  ConfigNotLoadedError,
  ConfigValidationError,
  ConflictError,
  InvalidArgumentError,
} from '../errors.js';
import type { LiveConfig } from './live-config.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import type { ConfigError } from './types.js';

const NS = 'config-test/';

let cluster: EtcdCluster;
let concord: Concord;
let seq = 0;

before(async () => {
  cluster = await startCluster();
  concord = new Concord({ endpoints: cluster.endpoints, namespace: NS });
});

after(async () => {
  await concord?.close();
  await cluster?.stop();
});

/** A fresh prefix per test, so tests never see each other's keys. */
function prefix(): string {
  return `app${++seq}/`;
}

async function put(key: string, value: string): Promise<bigint> {
  const res = await cluster.client().kv.put({ key: Buffer.from(NS + key), value: Buffer.from(value) });
  return BigInt(res.header.revision);
}

async function raw(key: string): Promise<string | null> {
  return cluster
    .client()
    .get(NS + key)
    .string();
}

/** Every value$ and errors$ emission of one config, in order. */
class Recorder<T> {
  readonly values: T[] = [];
  readonly errors: ConfigError[] = [];
  private readonly subs: Subscription[];

  constructor(config: LiveConfig<T>) {
    this.subs = [
      config.value$.subscribe((v) => this.values.push(v)),
      config.errors$.subscribe((e) => this.errors.push(e)),
    ];
  }

  async nextValue(count: number, message: string): Promise<T> {
    await waitUntil(() => this.values.length >= count, { timeoutMs: 10_000, message });
    return this.values[count - 1]!;
  }

  async nextError(count: number, message: string): Promise<ConfigError> {
    await waitUntil(() => this.errors.length >= count, { timeoutMs: 10_000, message });
    return this.errors[count - 1]!;
  }

  stop(): void {
    for (const sub of this.subs) sub.unsubscribe();
  }
}

const Db = z.object({
  db: z.object({ pool: z.number().int().positive(), host: z.string() }),
  feature: z.object({ on: z.boolean() }).default({ on: false }),
  marker: z.number().default(0),
});

describe('value$', () => {
  test('emits the validated config on subscribe, a 3-key transaction once, and nothing for equal results', async () => {
    const p = prefix();
    await put(`${p}db/pool`, '5');
    await put(`${p}db/host`, '"a"');
    const config = concord.config(p, { schema: Db });
    const rec = new Recorder(config);
    try {
      assert.deepEqual(await rec.nextValue(1, 'the initial value'), {
        db: { pool: 5, host: 'a' },
        feature: { on: false },
        marker: 0,
      });

      // Three keys in one etcd transaction: one revision, so one emission with all three.
      await cluster.client().kv.txn({
        compare: [],
        success: [
          { request_put: { key: Buffer.from(`${NS}${p}db/pool`), value: Buffer.from('6') } },
          { request_put: { key: Buffer.from(`${NS}${p}db/host`), value: Buffer.from('"b"') } },
          { request_put: { key: Buffer.from(`${NS}${p}feature/on`), value: Buffer.from('true') } },
        ],
        failure: [],
      });
      assert.deepEqual(await rec.nextValue(2, 'the transaction'), {
        db: { pool: 6, host: 'b' },
        feature: { on: true },
        marker: 0,
      });

      // Writes whose validated result is equal: same value again, a key the schema strips,
      // the same number spelled differently.
      await put(`${p}db/pool`, '6');
      await put(`${p}unknown/key`, '"stripped by zod"');
      await put(`${p}db/pool`, '6.0');
      // A change after them: when it arrives, everything before it has been judged.
      await put(`${p}marker`, '1');
      assert.deepEqual(await rec.nextValue(3, 'the marker'), {
        db: { pool: 6, host: 'b' },
        feature: { on: true },
        marker: 1,
      });
      assert.equal(rec.values.length, 3, 'equal results emitted nothing');
      assert.equal(rec.errors.length, 0);

      // A late subscriber gets the current value at once, from the shared state.
      let late: unknown;
      config.value$
        .subscribe((v) => {
          late = v;
        })
        .unsubscribe();
      assert.deepEqual(late, rec.values[2]);
      assert.ok(Object.isFrozen(late), 'values are frozen: every subscriber shares them');
    } finally {
      rec.stop();
      await config.close();
    }
  });

  test('maps keys to a nested object: JSON values, plain strings, object values merged with keys below', async () => {
    const p = prefix();
    await put(`${p}name`, 'billing'); // not JSON: a string
    await put(`${p}quoted`, '"20"'); // JSON string
    await put(`${p}limits`, '{"rps":100,"burst":{"max":5}}');
    await put(`${p}limits/burst/window`, '"1s"');
    await put(`${p}tags`, '["x","y"]');
    await put(`${p}__proto__/polluted`, 'true');
    const config = concord.config(p);
    try {
      const value = await config.load();
      assert.deepEqual(JSON.parse(JSON.stringify(value)), {
        name: 'billing',
        quoted: '20',
        limits: { rps: 100, burst: { max: 5, window: '1s' } },
        tags: ['x', 'y'],
        ['__proto__']: { polluted: true },
      });
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
      assert.equal(Object.getPrototypeOf(value), Object.prototype);
    } finally {
      await config.close();
    }
  });

  test('defaults merge deeply under the keys; scalars and arrays from etcd replace them', async () => {
    const p = prefix();
    await put(`${p}db/pool`, '20');
    await put(`${p}tags`, '["c"]');
    const defaults = { db: { pool: 10, host: 'localhost' }, tags: ['a', 'b'], features: { a: true } };
    const config = concord.config(p, { defaults });
    try {
      assert.deepEqual(await config.load(), {
        db: { pool: 20, host: 'localhost' },
        tags: ['c'],
        features: { a: true },
      });
      defaults.db.host = 'changed later';
      await config.set('features/b', false);
      await waitUntil(() => (config.current().features as Record<string, unknown>).b === false, {
        message: 'features/b',
      });
      assert.deepEqual(config.current(), {
        db: { pool: 20, host: 'localhost' },
        tags: ['c'],
        features: { a: true, b: false },
      });
    } finally {
      await config.close();
    }
  });

  test('accepts any Standard Schema, including an asynchronous one, and keeps revision order', async () => {
    const p = prefix();
    await put(`${p}n`, '1');
    // A hand-written validator (no library): answers after a delay that shrinks as n grows,
    // so a naive implementation would publish out of order.
    const schema: StandardSchemaV1<unknown, { n: number }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => {
          const n = (value as { n?: unknown }).n;
          await new Promise((resolve) => setTimeout(resolve, typeof n === 'number' ? 60 - n * 10 : 0));
          return typeof n === 'number'
            ? { value: { n } }
            : { issues: [{ message: 'n must be a number', path: ['n'] }] };
        },
      },
    };
    const config = concord.config(p, { schema });
    const rec = new Recorder(config);
    try {
      await rec.nextValue(1, 'n=1');
      for (const n of [2, 3, 4, 5]) await put(`${p}n`, String(n));
      await rec.nextValue(5, 'n=5');
      assert.deepEqual(
        rec.values.map((v) => v.n),
        [1, 2, 3, 4, 5],
      );
      await put(`${p}n`, '"x"');
      const error = await rec.nextError(1, 'the async rejection');
      assert.deepEqual(error.issues, ['n: n must be a number']);
      assert.equal(config.current().n, 5);
    } finally {
      rec.stop();
      await config.close();
    }
  });
});

describe('errors$', () => {
  test('an invalid write is reported with key, revision and message; the last good value stays; a valid write recovers', async () => {
    const p = prefix();
    await put(`${p}db/pool`, '5');
    await put(`${p}db/host`, '"a"');
    const config = concord.config(p, { schema: Db });
    const rec = new Recorder(config);
    try {
      const good = await rec.nextValue(1, 'the initial value');

      // A schema failure.
      const badRevision = await put(`${p}db/pool`, '"lots"');
      const schemaError = await rec.nextError(1, 'the schema failure');
      assert.ok(schemaError instanceof ConfigValidationError);
      assert.equal(schemaError.code, 'CONFIG_VALIDATION');
      assert.equal(schemaError.key, 'db/pool');
      assert.equal(schemaError.revision, badRevision);
      assert.equal(schemaError.issues.length, 1);
      assert.match(schemaError.issues[0]!, /^db\.pool: .*number/i);
      assert.match(schemaError.message, new RegExp(`revision ${badRevision}`));
      assert.equal(config.current(), good, 'current() keeps the last good value');

      // A key that cannot map: 'db' as a scalar while keys exist below it.
      const scalarRevision = await put(`${p}db`, '7');
      const mapError = await rec.nextError(2, 'the mapping failure');
      assert.equal(mapError.key, 'db');
      assert.equal(mapError.revision, scalarRevision);
      assert.match(
        mapError.issues[0]!,
        /key 'db\/(host|pool)' cannot be placed: key 'db' holds the scalar 7/,
      );

      // Still invalid after deleting 'db' (db/pool is still a string): a new error, no value.
      await cluster.client().delete().key(`${NS}${p}db`);
      await rec.nextError(3, 'still invalid');

      // The fix: one valid write, one new value.
      await put(`${p}db/pool`, '9');
      assert.deepEqual(await rec.nextValue(2, 'the recovery'), {
        db: { pool: 9, host: 'a' },
        feature: { on: false },
        marker: 0,
      });
      assert.equal(rec.values.length, 2, 'no value was emitted while invalid');
      assert.equal(rec.values[0], good);
    } finally {
      rec.stop();
      await config.close();
    }
  });

  test('a config invalid from the start emits no value: load() and current() say why', async () => {
    const p = prefix();
    await put(`${p}db/pool`, '-1');
    const config = concord.config(p, { schema: Db });
    const rec = new Recorder(config);
    try {
      const first = await rec.nextError(1, 'the initial rejection');
      assert.equal(first.key, 'db/pool');
      await assert.rejects(config.load(), ConfigValidationError);
      assert.throws(
        () => config.current(),
        (err: unknown) => {
          assert.ok(err instanceof ConfigValidationError);
          assert.match(err.message, /no valid value yet/);
          return true;
        },
      );
      assert.equal(rec.values.length, 0);
      await put(`${p}db`, '{"pool":3,"host":"h"}');
      await cluster.client().delete().key(`${NS}${p}db/pool`);
      await rec.nextValue(1, 'the first valid value');
      assert.deepEqual(config.current().db, { pool: 3, host: 'h' });
    } finally {
      rec.stop();
      await config.close();
    }
  });
});

describe('current() and load()', () => {
  test('current() throws until loaded, then answers synchronously; close() ends everything', async () => {
    const p = prefix();
    await put(`${p}db/pool`, '5');
    await put(`${p}db/host`, '"a"');
    const config = concord.config(p, { schema: Db });
    assert.throws(
      () => config.current(),
      (err: unknown) => {
        assert.ok(err instanceof ConfigNotLoadedError);
        assert.equal(err.code, 'CONFIG_NOT_LOADED');
        assert.match(err.message, /not loaded.*value\$.*load\(\)/);
        return true;
      },
    );
    assert.throws(() => config.revisionOf('db/pool'), ConfigNotLoadedError);

    const loaded = await config.load();
    assert.equal(config.current(), loaded);
    assert.equal(loaded.db.pool, 5);
    const loadedAt = config.revisionOf('db/pool');
    const revision = await put(`${p}db/pool`, '8');
    assert.ok(loadedAt > 0n && loadedAt < revision);
    await waitUntil(() => config.current().db.pool === 8, { message: 'current() follows' });
    assert.equal(config.revisionOf('db/pool'), revision);
    assert.equal(config.revisionOf('db/none'), 0n);

    let completed = false;
    config.value$.subscribe({ complete: () => (completed = true) });
    await config.close();
    assert.ok(completed, 'value$ completes on close()');
    assert.throws(() => config.current(), ClosedError);
    await assert.rejects(config.load(), ClosedError);
    await assert.rejects(config.set('db/pool', 1), ClosedError);
    await config.close();
  });

  test('load() honours its signal; unsubscribing everything stops the watch', async () => {
    const p = prefix();
    const config = concord.config(p, { schema: Db }); // empty prefix: invalid (db missing)
    const quiet = concord.config(`${p}quiet`);
    try {
      const aborted = new AbortController();
      aborted.abort(new Error('gave up'));
      await assert.rejects(quiet.load({ signal: aborted.signal }), /gave up/);

      const before = concord.watchStats().upstreamWatches;
      const sub = quiet.value$.subscribe();
      await waitUntil(() => concord.watchStats().upstreamWatches === before + 1, { message: 'the watch' });
      sub.unsubscribe();
      assert.throws(() => quiet.current(), ConfigNotLoadedError);
      await waitUntil(() => concord.watchStats().upstreamWatches === before, {
        message: 'the watch to stop',
      });
      await assert.rejects(config.load({ signal: AbortSignal.timeout(5_000) }), ConfigValidationError);
    } finally {
      await config.close();
      await quiet.close();
    }
  });
});

describe('set()', () => {
  test('writes JSON, deletes with undefined, and returns the revision', async () => {
    const p = prefix();
    const config = concord.config(p);
    try {
      const { revision: r1 } = await config.set('db/pool', 10);
      assert.equal(await raw(`${p}db/pool`), '10');
      await config.set('name', '20');
      assert.equal(
        await raw(`${p}name`),
        '"20"',
        'strings are stored JSON-quoted, so they read back as strings',
      );
      await config.set('nested', { a: [1, null, true] });
      assert.equal(await raw(`${p}nested`), '{"a":[1,null,true]}');
      const value = await config.load();
      assert.deepEqual(value, { db: { pool: 10 }, name: '20', nested: { a: [1, null, true] } });
      assert.equal(config.revisionOf('db/pool'), r1);
      const { revision: r2 } = await config.set('name', undefined);
      assert.ok(r2 > r1);
      assert.equal(await raw(`${p}name`), null);
      await waitUntil(() => !('name' in config.current()), { message: 'name deleted' });
    } finally {
      await config.close();
    }
  });

  test('ifRevision is a compare-and-set on the key: a stale revision throws ConflictError and writes nothing', async () => {
    const p = prefix();
    const config = concord.config(p);
    try {
      await assert.rejects(config.set('pool', 1, { ifRevision: 5n }), ConflictError);
      assert.equal(await raw(`${p}pool`), null);
      const { revision: r1 } = await config.set('pool', 1, { ifRevision: 0n }); // 0n: only if absent
      await assert.rejects(config.set('pool', 2, { ifRevision: 0n }), ConflictError);
      const { revision: r2 } = await config.set('pool', 2, { ifRevision: r1 });
      const storeBefore = await cluster.revision();
      await assert.rejects(config.set('pool', 3, { ifRevision: r1 }), (err: unknown) => {
        assert.ok(err instanceof ConflictError);
        assert.equal(err.code, 'CONFLICT');
        assert.match(err.message, new RegExp(`revision ${r2}, not at ifRevision ${r1}`));
        return true;
      });
      assert.equal(await raw(`${p}pool`), '2');
      assert.equal(await cluster.revision(), storeBefore, 'nothing was written');

      // Two writers racing with the same revision: the etcd transaction lets exactly one win.
      const results = await Promise.allSettled(
        [10, 11, 12, 13].map((n) => config.set('pool', n, { ifRevision: r2 })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof ConflictError);
      }
      assert.deepEqual(await config.load(), { pool: JSON.parse((await raw(`${p}pool`)) ?? 'null') });
    } finally {
      await config.close();
    }
  });

  test('rejects bad input and writes that would make the config invalid, before writing', async () => {
    const p = prefix();
    await put(`${p}db/pool`, '5');
    await put(`${p}db/host`, '"a"');
    const config = concord.config(p, { schema: Db });
    try {
      const storeBefore = await cluster.revision();
      const argument = (name: string) => (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        assert.equal(err.argument, name);
        return true;
      };
      await assert.rejects(config.set('huge', 'x'.repeat(2 * 1024 * 1024)), (err: unknown) => {
        argument('value')(err);
        assert.match((err as Error).message, /request size limit/);
        return true;
      });
      for (const path of ['', '/a', 'a/', 'a//b'])
        await assert.rejects(config.set(path, 1), argument('path'));
      await assert.rejects(config.set(42 as unknown as string, 1), argument('path'));
      for (const value of [Number.NaN, Number.POSITIVE_INFINITY, 1n, () => 1, { a: Symbol('s') }]) {
        await assert.rejects(config.set('x', value), argument('value'));
      }
      await assert.rejects(
        config.set('x', 1, { ifRevision: 3 as unknown as bigint }),
        argument('options.ifRevision'),
      );
      await assert.rejects(config.set('x', 1, { when: 1 } as never), argument('options.when'));

      await assert.rejects(config.set('db/pool', 'many'), (err: unknown) => {
        assert.ok(err instanceof ConfigValidationError);
        assert.equal(err.key, 'db/pool');
        assert.match(err.message, /would make config .* invalid: db\.pool:/);
        return true;
      });
      await assert.rejects(config.set('db', 3), (err: unknown) => {
        assert.ok(err instanceof ConfigValidationError);
        assert.match(err.issues[0]!, /cannot be placed/);
        return true;
      });
      await assert.rejects(config.set('db/host', undefined), ConfigValidationError);
      assert.equal(await cluster.revision(), storeBefore, 'nothing was written');
    } finally {
      await config.close();
    }
  });

  test('config() validates its arguments', () => {
    const argument = (name: string) => (err: unknown) =>
      err instanceof InvalidArgumentError && err.argument === name;
    assert.throws(() => concord.config(3 as unknown as string), argument('prefix'));
    assert.throws(() => concord.config('a\nb'), argument('prefix'));
    assert.throws(() => concord.config('a', { schema: {} as never }), argument('options.schema'));
    assert.throws(
      () => concord.config('a', { schema: z.string() as never, extra: 1 } as never),
      argument('options.extra'),
    );
    assert.throws(() => concord.config('a', { defaults: [] as never }), argument('options.defaults'));
    assert.throws(() => concord.config('a', { defaults: { n: Number.NaN } }), argument('options.defaults'));
    assert.equal(concord.config('a').prefix, 'a/');
    assert.equal(concord.config('a/').prefix, 'a/');
    assert.equal(concord.config('').prefix, '');
  });
});

describe('sharing', () => {
  test('100 subscribers over 20 configs of one prefix share one upstream etcd watch', async () => {
    const p = prefix();
    await put(`${p}db/pool`, '5');
    await put(`${p}db/host`, '"a"');
    const own = new Concord({ endpoints: cluster.endpoints, namespace: NS });
    const member = cluster.members[0]!;
    const configs: LiveConfig<z.infer<typeof Db>>[] = [];
    const subs: Subscription[] = [];
    const seen: number[] = [];
    try {
      const baseline = await member.metric('etcd_debugging_mvcc_watcher_total');
      for (let c = 0; c < 20; c++) {
        const config = own.config(p, { schema: Db });
        configs.push(config);
        for (let s = 0; s < 5; s++) {
          const i = seen.push(0) - 1;
          subs.push(config.value$.subscribe((v) => (seen[i] = v.db.pool)));
        }
      }
      await waitUntil(() => seen.every((v) => v === 5), { message: 'every subscriber loaded' });
      assert.equal(own.watchStats().upstreamWatches, 1);
      // etcd registers the watch a moment after the subscribers have their first value.
      await waitUntil(
        async () => (await member.metric('etcd_debugging_mvcc_watcher_total')) === baseline + 1,
        {
          message: 'one server-side watcher for every subscriber',
        },
      );

      await put(`${p}db/pool`, '6');
      await waitUntil(() => seen.every((v) => v === 6), { message: 'every subscriber saw the change' });
      assert.equal(await member.metric('etcd_debugging_mvcc_watcher_total'), baseline + 1);

      for (const sub of subs) sub.unsubscribe();
      assert.equal(own.watchStats().upstreamWatches, 0);
      await waitUntil(async () => (await member.metric('etcd_debugging_mvcc_watcher_total')) === baseline, {
        message: 'the server-side watch to be cancelled',
      });
    } finally {
      for (const sub of subs) sub.unsubscribe();
      await own.close();
    }
  });
});
