import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useCluster } from '../../test/support/fixture.js';
import { Concord } from '../concord.js';
import { InvalidArgumentError, NotConnectedError } from '../errors.js';

describe('concord.kv: plain key access under the namespace', () => {
  const fx = useCluster({ concord: { namespace: 'tenant-a/', watch: { pageSize: 2 } } });

  test('a read-modify-write under a lock reads what lock.txn wrote, in the namespace (concord.etcd is raw)', async () => {
    const { concord } = fx;
    const lock = await concord.mutex('balance-lock').lock();
    try {
      assert.equal(await concord.kv.get('balance'), undefined);
      assert.equal(await lock.txn([{ type: 'put', key: 'balance', value: '10' }]), true);
      const read = await concord.kv.get('balance');
      assert.equal(read?.key, 'balance');
      assert.equal(read?.value.toString(), '10');
      assert.equal(read?.lease, '0');
      assert.ok(read && read.createRevision === read.modRevision && read.version === 1n);
      const next = Number(read?.value.toString()) + 5;
      assert.equal(await lock.txn([{ type: 'put', key: 'balance', value: String(next) }]), true);
      assert.equal((await concord.kv.get('balance'))?.value.toString(), '15');
      // The raw client sees the namespace; the namespaced name means nothing to it.
      assert.equal(await concord.etcd.get('balance').string(), null);
      assert.equal(await concord.etcd.get('tenant-a/balance').string(), '15');
    } finally {
      await lock.release();
    }
  });

  test('put and delete report revisions; delete says whether the key existed', async () => {
    const { concord, cluster } = fx;
    const put = await concord.kv.put('kv/a', 'one');
    assert.equal(put.revision, await cluster.revision());
    assert.equal(await cluster.client().get('tenant-a/kv/a').string(), 'one');
    const bytes = await concord.kv.put('kv/b', new Uint8Array([0, 1, 2]));
    assert.deepEqual([...((await concord.kv.get('kv/b'))?.value ?? [])], [0, 1, 2]);
    assert.equal((await concord.kv.get('kv/b'))?.modRevision, bytes.revision);
    const gone = await concord.kv.delete('kv/a');
    assert.deepEqual(gone, { deleted: true, revision: await cluster.revision() });
    const again = await concord.kv.delete('kv/a');
    assert.deepEqual(again, { deleted: false, revision: gone.revision });
    assert.equal(await concord.kv.get('kv/a'), undefined);
  });

  test('getPrefix reads a prefix larger than a page as one cut, keys in order, namespace stripped', async () => {
    const { concord, cluster } = fx;
    const raw = cluster.client();
    for (let i = 0; i < 7; i++) await raw.put(`tenant-a/many/${i}`).value(String(i));
    await raw.put('tenant-a/many-not/x').value('outside the prefix');
    await raw.put('many/0').value('outside the namespace');
    const view = await concord.kv.getPrefix('many/');
    assert.equal(view.revision, await cluster.revision());
    assert.deepEqual(
      [...view.entries.keys()],
      Array.from({ length: 7 }, (_, i) => `many/${i}`),
    );
    assert.equal(view.entries.get('many/3')?.value.toString(), '3');
    assert.equal((await concord.kv.getPrefix('nothing-here/')).entries.size, 0);
  });

  test('bad input throws InvalidArgumentError naming the argument before anything is sent; aborted reads reject', async () => {
    const { concord, cluster } = fx;
    const revision = await cluster.revision();
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => concord.kv.get(''), 'key'],
      [() => concord.kv.get(5 as never), 'key'],
      [() => concord.kv.get('a', { signal: 'no' as never }), 'options.signal'],
      [() => concord.kv.get('a', { timeout: 5 } as never), 'options.timeout'],
      [() => concord.kv.getPrefix(undefined as never), 'prefix'],
      [() => concord.kv.put('', 'x'), 'key'],
      [() => concord.kv.put('a', 42 as never), 'value'],
      [() => concord.kv.put('a', 'x'.repeat(2 * 1024 * 1024)), 'value'],
      [() => concord.kv.put('x'.repeat(2 * 1024 * 1024), 'x'), 'key'],
      [() => concord.kv.delete(''), 'key'],
    ];
    for (const [call, argument] of cases) {
      await assert.rejects(
        call(),
        (err: unknown) => err instanceof InvalidArgumentError && err.argument === argument,
      );
    }
    assert.equal(await cluster.revision(), revision, 'nothing was written');
    const reason = new Error('gave up');
    await assert.rejects(concord.kv.get('a', { signal: AbortSignal.abort(reason) }), (err) => err === reason);
    await assert.rejects(
      concord.kv.getPrefix('many/', { signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
  });

  test('an unreachable etcd fails every call with NotConnectedError', async () => {
    const concord = new Concord({ endpoints: '127.0.0.1:1', callTimeoutMs: 500 });
    try {
      for (const call of [
        () => concord.kv.get('a'),
        () => concord.kv.getPrefix('a/'),
        () => concord.kv.put('a', 'x'),
        () => concord.kv.delete('a'),
      ]) {
        await assert.rejects(call(), NotConnectedError);
      }
    } finally {
      await concord.close();
    }
  });
});
