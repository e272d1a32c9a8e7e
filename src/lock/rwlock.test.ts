import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useCluster } from '../../test/support/fixture.js';
import { settled, sleep, waitUntil } from '../../test/support/wait.js';
import { Concord } from '../concord.js';
import { InvalidArgumentError } from '../errors.js';
import type { LockHandle } from './handle.js';

describe('RWLock', () => {
  const fx = useCluster({ concord: {} });

  async function keyCount(prefix: string): Promise<number> {
    return (await fx.cluster.client().getAll().prefix(prefix).keys()).length;
  }

  test('bad input is an InvalidArgumentError', async () => {
    assert.throws(() => fx.concord.rwlock(''), InvalidArgumentError);
    assert.throws(() => fx.concord.rwlock('rw', { ttl: 0 }), InvalidArgumentError);
    await assert.rejects(fx.concord.rwlock('rw').read({ signal: 1 as never }), InvalidArgumentError);
  });

  test('readers share; a writer waits for them; readers that come after a waiting writer wait for it', async () => {
    const rw = fx.concord.rwlock('share');
    const r1 = await rw.read();
    const r2 = await rw.read();
    assert.ok(r1.isHeld && r2.isHeld, 'two readers hold at once');
    const w = rw.write();
    await waitUntil(async () => (await keyCount('share/')) === 3, { message: 'writer queued' });
    const r3 = rw.read();
    await waitUntil(async () => (await keyCount('share/')) === 4, { message: 'late reader queued' });
    await sleep(200);
    assert.equal(await settled(w), false, 'the writer waits for the readers');
    assert.equal(await settled(r3), false, 'a reader after a waiting writer waits');
    assert.equal(await rw.tryRead(), undefined, 'tryRead does not overtake a waiting writer');
    await r1.release();
    await sleep(200);
    assert.equal(await settled(w), false, 'one reader still holds');
    await r2.release();
    const writer = await w;
    assert.ok(writer.fencingToken > r2.fencingToken);
    await sleep(200);
    assert.equal(await settled(r3), false, 'the late reader waits for the writer');
    assert.equal(await rw.tryWrite(), undefined);
    await writer.release();
    const reader = await r3;
    const other = await rw.tryRead();
    assert.ok(other?.isHeld, 'tryRead shares with a reader');
    assert.equal(await rw.tryWrite(), undefined);
    await reader.release();
    await other.release();
    const alone = await rw.tryWrite();
    assert.ok(alone?.isHeld);
    await alone.release();
    assert.equal(await keyCount('share/'), 0);
  });

  test('a writer is not starved by a steady stream of readers', async () => {
    const others = Array.from({ length: 3 }, () => new Concord({ endpoints: fx.cluster.endpoints }));
    try {
      const rws = others.map((c) => c.rwlock('steady'));
      let stop = false;
      let writerHeldUntil = Number.POSITIVE_INFINITY;
      // Queue order is the create revision (the fencing token), not the moment read() was called.
      const readerHolds: Array<{ token: bigint; at: number }> = [];
      let active = 0;
      let maxActive = 0;
      const readers = rws.map(async (rw) => {
        // Overlapping reads: at every moment at least one reader holds.
        while (!stop) {
          const h = await rw.read();
          readerHolds.push({ token: h.fencingToken, at: performance.now() });
          active++;
          maxActive = Math.max(maxActive, active);
          await sleep(150);
          active--;
          await h.release();
        }
      });
      await waitUntil(() => maxActive >= 2, { timeoutMs: 10_000, message: 'readers overlap' });
      const writerAskedAt = performance.now();
      const writer = await fx.concord.rwlock('steady').write();
      const writerHeldFrom = performance.now();
      assert.equal(active, 0, 'no reader holds while the writer does');
      await sleep(200);
      writerHeldUntil = performance.now();
      await writer.release();
      await waitUntil(() => readerHolds.some((r) => r.token > writer.fencingToken), {
        timeoutMs: 10_000,
        message: 'a reader queued behind the writer acquires after it',
      });
      stop = true;
      await Promise.all(readers);
      assert.ok(writerHeldFrom - writerAskedAt < 3_000, 'the writer got its turn');
      for (const hold of readerHolds.filter((r) => r.token > writer.fencingToken)) {
        assert.ok(hold.at >= writerHeldUntil, 'readers queued behind the writer acquired only after it');
      }
    } finally {
      await Promise.all(others.map((c) => c.close()));
    }
  });

  test('under contention writers are alone and readers never overlap a writer', async () => {
    const others = Array.from({ length: 3 }, () => new Concord({ endpoints: fx.cluster.endpoints }));
    try {
      let readers = 0;
      let writers = 0;
      let maxReaders = 0;
      const violations: string[] = [];
      const runs = others.flatMap((c, i) =>
        [0, 1].map(async (j) => {
          const rw = c.rwlock('contend');
          for (let k = 0; k < 6; k++) {
            const write = (i + j + k) % 3 === 0;
            const h: LockHandle = write ? await rw.write() : await rw.read();
            if (write) {
              writers++;
              if (writers > 1 || readers > 0)
                violations.push(`writer with ${writers - 1} writers, ${readers} readers`);
            } else {
              readers++;
              maxReaders = Math.max(maxReaders, readers);
              if (writers > 0) violations.push('reader with a writer');
            }
            await sleep(10 + Math.random() * 30);
            if (write) writers--;
            else readers--;
            await h.release();
          }
        }),
      );
      await Promise.all(runs);
      assert.deepEqual(violations, []);
      assert.ok(maxReaders >= 2, `readers shared (max ${maxReaders} at once)`);
      assert.equal(await keyCount('contend/'), 0);
    } finally {
      await Promise.all(others.map((c) => c.close()));
    }
  });
});
