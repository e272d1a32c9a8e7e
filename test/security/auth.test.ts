// concord against an etcd with authentication enabled: a root user, and `alice`, whose role may
// read and write only keys under `app/`. Inside that prefix everything works; outside it every
// operation and every stream fails with PermissionDeniedError (never a silent dead stream); bad
// credentials fail with AuthenticationFailedError; no credential ever reaches the logger.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AuthenticationFailedError,
  Concord,
  type ConcordOptions,
  type Leadership,
  PermissionDeniedError,
} from 'concord-etcd';
import type { Etcd3 } from 'etcd3';
import { filter, firstValueFrom, type Observable, type Subscription } from 'rxjs';
import { enableAuth } from '../support/auth.js';
import { createTestClient } from '../support/client.js';
import { type EtcdCluster, startCluster } from '../support/etcd.js';
import { captureLogs } from './logs.js';

const ROOT_PASSWORD = 'r00t-Pa55word-for-concord';
const ALICE_PASSWORD = 'alice-S3cret-Pa55word';
const WRONG_PASSWORD = 'not-alices-password-xyz';
// etcd's simple auth tokens: 16 random letters, '.', a sequence number.
const SIMPLE_TOKEN = /\b[a-zA-Z]{16}\.\d+\b/;
// A typed refusal must arrive well within this; a silent dead stream would run into it.
const REFUSAL_MS = 10_000;

/** Rejects with a clear message when `promise` has not settled within `ms` (a hang). */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (a silent hang)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Asserts that `promise` rejects with `type` within {@link REFUSAL_MS}. */
async function refused(
  what: string,
  promise: Promise<unknown>,
  type: typeof PermissionDeniedError | typeof AuthenticationFailedError,
): Promise<void> {
  await assert.rejects(within(REFUSAL_MS, what, promise), (err: unknown) => {
    assert.ok(err instanceof type, `${what}: expected ${type.name}, got ${String(err)}`);
    return true;
  });
}

/** The first value of a stream, or its error. */
function first<T>(stream: Observable<T>): Promise<T> {
  return firstValueFrom(stream);
}

describe('etcd authentication and per-prefix permissions', () => {
  let cluster: EtcdCluster;
  let root: Etcd3;

  before(async () => {
    cluster = await startCluster();
    await enableAuth(cluster, { root: ROOT_PASSWORD, alice: ALICE_PASSWORD });
    root = createTestClient(cluster.endpoints, { auth: { username: 'root', password: ROOT_PASSWORD } });
  });
  after(async () => {
    root?.close();
    await cluster?.stop();
  });

  function connect(options: ConcordOptions): Concord {
    return new Concord({ endpoints: cluster.endpoints, callTimeoutMs: 3_000, ...options });
  }

  async function revision(): Promise<bigint> {
    const res = await root.kv.range({ key: Buffer.from('\0probe'), count_only: true });
    return BigInt(res.header.revision);
  }

  test('inside its prefix a restricted user can use every primitive', async () => {
    const concord = connect({
      namespace: 'app/',
      auth: { username: 'alice', password: ALICE_PASSWORD },
    });
    let campaign: Subscription | undefined;
    try {
      const changed = first(concord.watch({ prefix: 'kv/' }).pipe(filter((b) => b.type === 'events')));
      await first(concord.watch({ prefix: 'kv/' }));
      await concord.etcd.put('app/kv/a').value('1');
      await changed;
      assert.deepEqual([...(await first(concord.view({ prefix: 'kv/' }))).entries.keys()], ['kv/a']);

      const session = await concord.session({ ttl: 5 });
      const held = await concord.mutex('m', { session }).lock();
      assert.equal(await held.txn([{ type: 'put', key: 'kv/guarded', value: 'ok' }]), true);
      await held.release();

      const elected = new Promise<Leadership>((resolve, reject) => {
        campaign = concord.election('e').campaign('alice').subscribe({ next: resolve, error: reject });
      });
      const leadership = await elected;
      assert.equal((await concord.election('e').leader())?.value, 'alice');
      assert.equal(await leadership.txn([{ type: 'put', key: 'kv/leader', value: 'alice' }]), true);

      const reg = await concord
        .registry()
        .register({ service: 'api', id: 'i1', address: '10.0.0.1:80' }, { session });
      const instances = await first(
        concord
          .discovery()
          .instances$('api')
          .pipe(filter((list) => list.length === 1)),
      );
      assert.equal(instances[0]?.address, '10.0.0.1:80');
      await reg.deregister();

      const config = concord.config('cfg');
      await config.set('pool', 5);
      assert.deepEqual(await config.load(), { pool: 5 });
      await config.close();
      await session.close();
      // Everything really went under app/ (the root user sees it there).
      assert.equal(await root.get('app/kv/guarded').string(), 'ok');
      assert.equal(await root.get('app/cfg/pool').string(), '5');
    } finally {
      campaign?.unsubscribe();
      await concord.close();
    }
  });

  test('outside its prefix every operation and every stream fails with PermissionDeniedError', async () => {
    await root.put('other/cfg/pool').value('1');
    await root.put('other/services/api/i1').value('10.0.0.9:80');
    const concord = connect({
      namespace: 'other/',
      auth: { username: 'alice', password: ALICE_PASSWORD },
    });
    try {
      const before = await revision();
      await refused('watch', first(concord.watch({ prefix: 'kv/' })), PermissionDeniedError);
      await refused('watch of a key', first(concord.watch({ key: 'kv/a' })), PermissionDeniedError);
      await refused('view', first(concord.view({ prefix: 'kv/' })), PermissionDeniedError);
      await refused('mutex.lock', concord.mutex('m').lock(), PermissionDeniedError);
      await refused('mutex.tryLock', concord.mutex('m').tryLock(), PermissionDeniedError);
      await refused('rwlock.read', concord.rwlock('rw').read(), PermissionDeniedError);
      await refused(
        'semaphore.acquire',
        concord.semaphore('s', { permits: 2 }).acquire(),
        PermissionDeniedError,
      );
      await refused('election.campaign', first(concord.election('e').campaign('x')), PermissionDeniedError);
      await refused('election.leader', concord.election('e').leader(), PermissionDeniedError);
      await refused('election.leader$', first(concord.election('e').leader$), PermissionDeniedError);
      await refused(
        'registry.register',
        concord.registry().register({ service: 'api', address: '10.0.0.1:80' }, { ttl: 5 }),
        PermissionDeniedError,
      );
      await refused(
        'discovery.instances$',
        first(concord.discovery().instances$('api')),
        PermissionDeniedError,
      );
      await refused('discovery.changes$', first(concord.discovery().changes$()), PermissionDeniedError);
      await refused('config.load', concord.config('cfg').load(), PermissionDeniedError);
      await refused('config.value$', first(concord.config('cfg').value$), PermissionDeniedError);
      await refused('config.set', concord.config('cfg').set('pool', 2), PermissionDeniedError);
      // Nothing was written by any of the refused calls.
      assert.equal(await revision(), before);
      // The Concord is still usable afterwards (a refused watch did not poison the shared stream).
      const inside = connect({ namespace: 'app/', auth: { username: 'alice', password: ALICE_PASSWORD } });
      try {
        const changed = first(inside.watch({ key: 'after' }).pipe(filter((b) => b.type === 'events')));
        await first(inside.watch({ key: 'after' }));
        await root.put('app/after').value('x');
        await within(REFUSAL_MS, 'watch after refusals', changed);
      } finally {
        await inside.close();
      }
    } finally {
      await concord.close();
    }
  });

  test('a refused watch does not disturb a permitted watch sharing the same stream', async () => {
    const concord = connect({ auth: { username: 'alice', password: ALICE_PASSWORD } });
    try {
      const seen: string[] = [];
      const sub = concord.watch({ prefix: 'app/shared/' }).subscribe((b) => {
        if (b.type === 'events') for (const e of b.events) seen.push(e.kv.key);
      });
      try {
        await first(concord.watch({ prefix: 'app/shared/' }));
        await refused('watch outside', first(concord.watch({ prefix: 'other/' })), PermissionDeniedError);
        await root.put('app/shared/x').value('1');
        const deadline = Date.now() + REFUSAL_MS;
        while (!seen.includes('app/shared/x') && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(seen, ['app/shared/x']);
      } finally {
        sub.unsubscribe();
      }
    } finally {
      await concord.close();
    }
  });

  for (const [name, auth] of [
    ['a wrong password', { username: 'alice', password: WRONG_PASSWORD }],
    ['an unknown user', { username: 'mallory', password: WRONG_PASSWORD }],
  ] as const) {
    test(`${name} fails every entry point with AuthenticationFailedError`, async () => {
      const concord = connect({ namespace: 'app/', auth });
      try {
        const before = await revision();
        await refused('session', concord.session({ ttl: 5 }), AuthenticationFailedError);
        await refused('watch', first(concord.watch({ prefix: 'kv/' })), AuthenticationFailedError);
        await refused('view', first(concord.view({ prefix: 'kv/' })), AuthenticationFailedError);
        await refused('mutex.lock', concord.mutex('m').lock(), AuthenticationFailedError);
        await refused('election.leader', concord.election('e').leader(), AuthenticationFailedError);
        await refused(
          'registry.register',
          concord.registry().register({ service: 'api', address: '10.0.0.1:80' }, { ttl: 5 }),
          AuthenticationFailedError,
        );
        await refused('config.load', concord.config('cfg').load(), AuthenticationFailedError);
        assert.equal(await revision(), before);
      } finally {
        await concord.close();
      }
    });
  }

  test('credentials never reach the logger: connect, refusals, a member restart and close, at debug level', async () => {
    const logs = captureLogs();
    const good = connect({
      namespace: 'app/',
      auth: { username: 'alice', password: ALICE_PASSWORD },
      logger: logs.logger,
      probeIntervalMs: 100,
    });
    const denied = connect({
      namespace: 'other/',
      auth: { username: 'alice', password: ALICE_PASSWORD },
      logger: logs.logger,
    });
    const wrong = connect({
      namespace: 'app/',
      auth: { username: 'alice', password: WRONG_PASSWORD },
      logger: logs.logger,
    });
    const state = good.state$.subscribe();
    try {
      const session = await good.session({ ttl: 5 });
      const watching = good.view({ prefix: 'logs/' }).subscribe();
      await first(good.state$.pipe(filter((s) => s === 'connected')));
      await refused('denied watch', first(denied.watch({ prefix: 'x/' })), PermissionDeniedError);
      await refused('denied session lock', denied.mutex('m').lock(), PermissionDeniedError);
      await refused('wrong password', wrong.session({ ttl: 5 }), AuthenticationFailedError);
      await refused('wrong password watch', first(wrong.watch({ prefix: 'x/' })), AuthenticationFailedError);
      // A restart drops the member's auth tokens and breaks every stream: reconnect paths log.
      const member = cluster.members[0]!;
      await member.kill();
      await first(good.state$.pipe(filter((s) => s === 'disconnected')));
      await member.start();
      await first(good.state$.pipe(filter((s) => s === 'connected')));
      await good.etcd.put('app/logs/after-restart').value('1');
      watching.unsubscribe();
      await session.close();
    } finally {
      state.unsubscribe();
      await Promise.all([good.close(), denied.close(), wrong.close()]);
    }
    assert.ok(logs.lines.length > 0, 'the test should have produced log lines');
    logs.assertNoSecret(ALICE_PASSWORD, "alice's password");
    logs.assertNoSecret(WRONG_PASSWORD, 'the wrong password');
    logs.assertNoSecret(ROOT_PASSWORD, "root's password");
    logs.assertNoSecret(SIMPLE_TOKEN, 'an etcd auth token');
  });

  test('after a member restart (auth tokens lost), watches and sessions carry on', async () => {
    const concord = connect({
      namespace: 'app/',
      auth: { username: 'alice', password: ALICE_PASSWORD },
    });
    try {
      const session = await concord.session({ ttl: 10 });
      const seen: string[] = [];
      let failure: unknown;
      const sub = concord.watch({ prefix: 'restart/' }).subscribe({
        next: (b) => {
          if (b.type === 'events') for (const e of b.events) seen.push(e.kv.key);
        },
        error: (err) => {
          failure = err;
        },
      });
      try {
        await first(concord.watch({ prefix: 'restart/' }));
        const member = cluster.members[0]!;
        await member.kill();
        await member.start();
        await root.put('app/restart/a').value('1');
        const deadline = Date.now() + REFUSAL_MS;
        while (!seen.includes('restart/a') && failure === undefined && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(failure, undefined, `the watch failed after the restart: ${String(failure)}`);
        assert.deepEqual(seen, ['restart/a']);
        assert.ok(session.isAlive, 'the session should have been kept alive through the restart');
      } finally {
        sub.unsubscribe();
        await session.close();
      }
    } finally {
      await concord.close();
    }
  });
});

describe('an expired auth token', () => {
  let cluster: EtcdCluster;

  before(async () => {
    // Simple tokens expire after a second without use.
    cluster = await startCluster({ extraArgs: ['--auth-token-ttl=1'] });
    const admin = cluster.client();
    await admin.user('root').create(ROOT_PASSWORD);
    await admin.user('root').addRole('root');
    await admin.auth.authEnable();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a range read renews it: a view of the instances loads', async () => {
    const concord = new Concord({
      endpoints: cluster.endpoints,
      auth: { username: 'root', password: ROOT_PASSWORD },
    });
    try {
      await concord.etcd.put('services/api/i1').value('10.0.0.1:80');
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      // Nothing else runs on this Concord: the view's read is the first call with the stale token.
      const list = await within(REFUSAL_MS, 'discovery', first(concord.discovery().instances$('api')));
      assert.deepEqual(
        list.map((i) => i.address),
        ['10.0.0.1:80'],
      );
    } finally {
      await concord.close();
    }
  });
});
