import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { firstValueFrom } from 'rxjs';
import { useCluster } from '../../test/support/fixture.js';
import { startProxy } from '../../test/support/proxy.js';
import { sleep, waitUntil } from '../../test/support/wait.js';
import { kvCalls } from '../../test/watch/helpers.js';
import { Concord } from '../concord.js';
import { InvalidArgumentError } from '../errors.js';

describe('Semaphore', () => {
  const fx = useCluster({ concord: {} });

  async function keyCount(prefix: string): Promise<number> {
    return (await fx.cluster.client().getAll().prefix(prefix).keys()).length;
  }

  test('permits must be an integer >= 1', () => {
    for (const permits of [0, -1, 1.5, Number.NaN, '2' as unknown as number]) {
      assert.throws(
        () => fx.concord.semaphore('sem', { permits }),
        (err: unknown) => err instanceof InvalidArgumentError && err.argument === 'options.permits',
      );
    }
    assert.throws(() => fx.concord.semaphore('sem', undefined as never), InvalidArgumentError);
    assert.throws(() => fx.concord.semaphore('sem', { permits: 2, extra: 1 } as never), InvalidArgumentError);
  });

  test('never more than `permits` holders under contention of 3x permits', async () => {
    const permits = 3;
    const others = Array.from({ length: 3 }, () => new Concord({ endpoints: fx.cluster.endpoints }));
    try {
      let holders = 0;
      let maxHolders = 0;
      let acquisitions = 0;
      const overs: number[] = [];
      const contenders = Array.from({ length: 3 * permits }, async (_, i) => {
        const sem = others[i % others.length]!.semaphore('contended', { permits });
        for (let k = 0; k < 4; k++) {
          const permit = await sem.acquire();
          holders++;
          acquisitions++;
          maxHolders = Math.max(maxHolders, holders);
          if (holders > permits) overs.push(holders);
          await sleep(20 + Math.random() * 40);
          holders--;
          await permit.release();
        }
      });
      await Promise.all(contenders);
      assert.deepEqual(overs, [], 'never more holders than permits');
      assert.equal(maxHolders, permits, 'the permits were all in use under contention');
      assert.equal(acquisitions, 36);
      assert.equal(await keyCount('contended/'), 0);
    } finally {
      await Promise.all(others.map((c) => c.close()));
    }
  });

  test('waiters get permits in the order they asked; tryAcquire never waits and leaves nothing behind', async () => {
    const sem = fx.concord.semaphore('order', { permits: 2 });
    const a = await sem.acquire();
    const b = await sem.acquire();
    const revision = await fx.cluster.revision();
    assert.equal(await sem.tryAcquire(), undefined);
    assert.equal(await fx.cluster.revision(), revision, 'a visibly full semaphore is not even written to');
    const order: string[] = [];
    const c = sem.acquire().then((h) => {
      order.push('c');
      return h;
    });
    await waitUntil(async () => (await keyCount('order/')) === 3, { message: 'c queued' });
    const d = sem.acquire().then((h) => {
      order.push('d');
      return h;
    });
    await waitUntil(async () => (await keyCount('order/')) === 4, { message: 'd queued' });
    await b.release();
    const heldC = await c;
    await sleep(200);
    assert.deepEqual(order, ['c']);
    await a.release();
    const heldD = await d;
    assert.deepEqual(order, ['c', 'd']);
    await heldC.release();
    const e = await sem.tryAcquire();
    assert.ok(e?.isHeld);
    await e.release();
    await heldD.release();
    assert.equal(await keyCount('order/'), 0);
  });

  test("a waiter takes a freed permit on the release's watch event alone: no read after it", async () => {
    const sem = fx.concord.semaphore('alone', { permits: 2 });
    const a = await sem.acquire();
    const b = await sem.acquire();
    const waiting = sem.acquire();
    await waitUntil(async () => (await keyCount('alone/')) === 3, { message: 'the waiter queued' });
    await sleep(200);
    const member = fx.cluster.members[0]!;
    const before = await kvCalls(member);
    await a.release();
    const c = await waiting;
    // The release is one LeaseRevoke; the waiter's watch saw every older key and its own.
    assert.equal(await kvCalls(member), before, 'no Range or Txn between the release and the permit');
    assert.ok(b.isHeld && c.isHeld);
    await b.release();
    await c.release();
  });

  test("a permit comes back when its holder's session is lost", async () => {
    const proxy = await startProxy(fx.cluster.endpoints[0]!);
    const cut = new Concord({ endpoints: [proxy.endpoint], callTimeoutMs: 1_000 });
    try {
      const sem = fx.concord.semaphore('lost', { permits: 2 });
      const stranded = await cut.semaphore('lost', { permits: 2, ttl: 2 }).acquire();
      const kept = await sem.acquire();
      const waiting = sem.acquire();
      await waitUntil(async () => (await keyCount('lost/')) === 3, { message: 'waiter queued' });
      await sleep(200);
      proxy.blackhole();
      const lost = firstValueFrom(stranded.lost$);
      const next = await waiting;
      await lost;
      assert.equal(stranded.isHeld, false);
      assert.ok(kept.isHeld && next.isHeld);
      await kept.release();
      await next.release();
    } finally {
      await cut.close();
      await proxy.close();
    }
  });
});
