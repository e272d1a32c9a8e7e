// A wrong endpoint, or etcd down at start (issue 13 item 8): state$ says `disconnected`, one-shot
// waits reject with NotConnectedError after `connectTimeoutMs`, streams keep retrying and say why.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { Concord, type ConnectionState, NotConnectedError } from 'concord-etcd';
import { filter, firstValueFrom, type Subscription, timeout } from 'rxjs';
import { resolveOptions } from '../src/options.js';
import { useCluster } from './support/fixture.js';
import { freePort, sleep, within } from './support/wait.js';

/** A logger that keeps every line. */
function recorder(): {
  lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }>;
  logger: object;
} {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push({ level, message, ...(fields ? { fields } : {}) });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

test('connectTimeoutMs defaults to 5 s and must be a positive integer', () => {
  assert.equal(resolveOptions({}).connectTimeoutMs, 5_000);
  assert.equal(resolveOptions({ connectTimeoutMs: 250 }).connectTimeoutMs, 250);
  for (const bad of [0, -1, 1.5, '5000']) {
    assert.throws(() => resolveOptions({ connectTimeoutMs: bad as never }), /options\.connectTimeoutMs/);
  }
});

test('a wrong endpoint: state$ goes disconnected, load() and ready() reject with NotConnectedError, streams keep retrying and log why', async (t) => {
  const endpoint = `127.0.0.1:${await freePort()}`;
  const { lines, logger } = recorder();
  const concord = new Concord({ endpoints: endpoint, connectTimeoutMs: 1_000, logger });
  const streams: Subscription[] = [];
  try {
    const states: ConnectionState[] = [];
    streams.push(concord.state$.subscribe((s) => states.push(s)));
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    streams.push(concord.view({ prefix: 'a/' }).subscribe({ error: onError }));
    streams.push(concord.watch({ prefix: 'a/' }).subscribe({ error: onError }));
    streams.push(concord.election('e').leader$.subscribe({ error: onError }));
    streams.push(concord.discovery().instances$('svc').subscribe({ error: onError }));

    await firstValueFrom(
      concord.state$.pipe(
        filter((s) => s === 'disconnected'),
        timeout(10_000),
      ),
    );
    const started = performance.now();
    const config = concord.config('app');
    const picker = concord.discovery().picker('svc');
    const notConnected = (what: string) => (err: unknown) =>
      err instanceof NotConnectedError && err.message.includes(what) && err.message.includes(endpoint);
    await Promise.all([
      assert.rejects(within(config.load(), 'config.load()'), notConnected('config.load')),
      assert.rejects(within(picker.ready(), 'picker.ready()'), notConnected('picker.ready')),
      assert.rejects(within(concord.mutex('m').lock(), 'lock()'), NotConnectedError),
    ]);
    const tookMs = performance.now() - started;
    t.diagnostic(`load()/ready() rejected after ${tookMs.toFixed(0)} ms (connectTimeoutMs 1,000)`);
    assert.ok(tookMs >= 900, 'not before connectTimeoutMs');
    // A later call waits its own bound again; the picker and config keep following meanwhile.
    await assert.rejects(within(config.load(), 'config.load() again'), NotConnectedError);
    assert.deepEqual(errors, [], 'streams never fail for an unreachable etcd: they keep retrying');
    assert.deepEqual(states, ['connecting', 'disconnected']);
    const disconnected = lines.find((l) => l.message.startsWith('etcd connection disconnected'));
    assert.equal(disconnected?.level, 'warn');
    assert.equal(disconnected?.fields?.endpoints, endpoint);
    assert.match(String(disconnected?.fields?.error), /ECONNREFUSED|UNAVAILABLE/);
    assert.ok(
      lines.some(
        (l) => l.level === 'warn' && /retrying|resuming/.test(l.message) && l.fields?.error !== undefined,
      ),
      'each retry is logged with its error',
    );
    picker.close();
  } finally {
    for (const sub of streams) sub.unsubscribe();
    await concord.close();
  }
});

describe('etcd down at start, then up', () => {
  const fx = useCluster();

  test('waits started while etcd is down complete once it is up (within connectTimeoutMs), and state$ follows', async () => {
    const member = fx.cluster.members[0]!;
    await fx.cluster.client().put('down-at-start/app/db/pool').value('10');
    await member.kill();
    const concord = new Concord({ endpoints: fx.cluster.endpoints, connectTimeoutMs: 30_000 });
    try {
      const states: ConnectionState[] = [];
      const sub = concord.state$.subscribe((s) => states.push(s));
      const loading = concord.config('down-at-start/app').load();
      const picker = concord.discovery().picker('svc');
      const ready = picker.ready();
      const view = firstValueFrom(concord.view({ prefix: 'down-at-start/' }));
      await firstValueFrom(
        concord.state$.pipe(
          filter((s) => s === 'disconnected'),
          timeout(10_000),
        ),
      );
      await sleep(300);
      await member.start();
      assert.deepEqual(await within(loading, 'config.load()', 20_000), { db: { pool: 10 } });
      await within(ready, 'picker.ready()', 20_000);
      assert.equal((await within(view, 'view()', 20_000)).entries.size, 1);
      await firstValueFrom(
        concord.state$.pipe(
          filter((s) => s === 'connected'),
          timeout(10_000),
        ),
      );
      sub.unsubscribe();
      assert.deepEqual(states.slice(0, 3), ['connecting', 'disconnected', 'connected']);
      picker.close();
    } finally {
      await concord.close();
    }
  });

  test('lock() on a shared session rejects with NotConnectedError after connectTimeoutMs when etcd is gone before it wrote its key', async (t) => {
    const member = fx.cluster.members[0]!;
    const concord = new Concord({
      endpoints: fx.cluster.endpoints,
      connectTimeoutMs: 1_000,
      callTimeoutMs: 500,
    });
    try {
      const session = await concord.session({ ttl: 20 });
      await member.kill();
      const started = performance.now();
      await assert.rejects(
        within(concord.mutex('down', { session }).lock(), 'lock()', 15_000),
        NotConnectedError,
      );
      const tookMs = performance.now() - started;
      t.diagnostic(
        `lock() rejected after ${tookMs.toFixed(0)} ms (connectTimeoutMs 1,000, session TTL 20 s)`,
      );
      assert.ok(tookMs >= 900, 'not before connectTimeoutMs');
      assert.equal(session.isAlive, true, 'the session outlives the failed lock()');
      await member.start();
      // Nothing was left in the queue: the next lock() is served at once.
      const lock = await within(
        concord.mutex('down', { session }).lock(),
        'lock() after etcd is back',
        20_000,
      );
      await lock.release();
      await session.close();
    } finally {
      await concord.close();
    }
  });
});
