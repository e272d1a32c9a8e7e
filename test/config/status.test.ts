// An instance's status key, in one process against a real etcd: what it holds after each kind of
// revision, under which lease, and when it goes away; setMany as one revision.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { firstValueFrom, skip } from 'rxjs';
import { z } from 'zod';
import type { LiveConfig } from '../../src/config/live-config.js';
import { useCluster } from '../support/fixture.js';
import { waitUntil } from '../support/wait.js';

const NS = 'status-test/';
const shared = useCluster({ concord: { namespace: NS } });
let seq = 0;

const Schema = z.object({ pool: z.number().int().max(100).default(1), host: z.string().default('h') });

/** The JSON at the status key of `instance` for `prefix` (one segment prefixes only), or null. */
async function status(prefix: string, instance: string): Promise<Record<string, unknown> | null> {
  const raw = await shared.cluster
    .client()
    .get(`${NS}config-status/${prefix.slice(0, -1)}/${instance}`)
    .string();
  return raw === null ? null : (JSON.parse(raw) as Record<string, unknown>);
}

async function lease(prefix: string, instance: string): Promise<string> {
  const res = await shared.cluster
    .client()
    .kv.range({ key: Buffer.from(`${NS}config-status/${prefix.slice(0, -1)}/${instance}`) });
  return String(res.kvs[0]?.lease ?? '0');
}

async function until(
  prefix: string,
  instance: string,
  check: (s: Record<string, unknown> | null) => boolean,
) {
  await waitUntil(async () => check(await status(prefix, instance)), {
    message: `status of ${instance}`,
    timeoutMs: 10_000,
  });
}

describe('instance status', () => {
  test('reports its first read, every revision after it (even one that changes nothing), rejections, and leaves on close', async () => {
    const prefix = `s${++seq}/`;
    const { concord } = shared;
    const writer = concord.config(prefix);
    const config: LiveConfig<z.infer<typeof Schema>> = concord.config(prefix, {
      schema: Schema,
      instance: 'me',
    });
    try {
      assert.equal(config.instance, 'me');
      assert.equal(await status(prefix, 'me'), null, 'nothing before the config is watched');
      await config.load();
      await until(prefix, 'me', (s) => s?.status === 'applied');

      const { revision: same } = await writer.set('pool', 1); // equal to the default: no new value
      await until(prefix, 'me', (s) => s?.revision === String(same));
      assert.equal((await status(prefix, 'me'))?.status, 'applied');

      // Rejected by the instance (written around the writer's own check): the valid revision is kept.
      const res = await shared.cluster.client().put(`${NS}${prefix}pool`).value('500');
      const bad = String(res.header.revision);
      await until(prefix, 'me', (s) => s?.revision === bad);
      const rejected = await status(prefix, 'me');
      assert.deepEqual(
        { status: rejected?.status, key: rejected?.key, applied: rejected?.applied },
        { status: 'rejected', key: 'pool', applied: String(same) },
      );
      assert.match(String(rejected?.issues), /pool/);

      // A good revision after a rejected one: applied at the newer revision.
      const { revision: fixed } = await writer.set('pool', 7);
      await until(prefix, 'me', (s) => s?.revision === String(fixed) && s?.status === 'applied');
      assert.deepEqual((await config.rolledOut(BigInt(bad))).applied, ['me']);
    } finally {
      await config.close();
    }
    assert.equal(await status(prefix, 'me'), null, 'close() removed the status key');
    await writer.close();
  });

  test('stops reporting when nothing watches; reports again under the given session, then under its own once that ends', async () => {
    const prefix = `s${++seq}/`;
    const { concord } = shared;
    const session = await concord.session({ ttl: 5 });
    const config = concord.config(prefix, { instance: 'me', session });
    try {
      const sub = config.value$.subscribe();
      await until(prefix, 'me', (s) => s !== null);
      assert.equal(await lease(prefix, 'me'), session.leaseId);
      sub.unsubscribe();
      await until(prefix, 'me', (s) => s === null);

      await config.load();
      await until(prefix, 'me', (s) => s !== null);
      await session.close(); // the caller ends its session: the key goes with the lease...
      await waitUntil(async () => !['0', session.leaseId].includes(await lease(prefix, 'me')), {
        message: '...and is written again under a session of the config',
        timeoutMs: 10_000,
      });
    } finally {
      await config.close();
    }
    assert.equal(await status(prefix, 'me'), null);
  });

  test('setMany writes several keys in one transaction: one revision, one new value', async () => {
    const prefix = `s${++seq}/`;
    const config = shared.concord.config(prefix, { schema: Schema, instance: 'me' });
    try {
      await config.load();
      const next = firstValueFrom(config.value$.pipe(skip(1)));
      const { revision } = await config.setMany({ pool: 9, host: 'db2' });
      assert.deepEqual(await next, { pool: 9, host: 'db2' });
      assert.equal(config.revisionOf('pool'), revision);
      assert.equal(config.revisionOf('host'), revision);
      const done = await config.rolledOut(revision, { instances: 1 });
      assert.deepEqual([...done.applied], ['me']);
      const { revision: removed } = await config.setMany({ pool: undefined, host: undefined });
      assert.ok(removed > revision);
      await waitUntil(() => config.current().pool === 1, { message: 'both keys deleted' });
      await assert.rejects(config.setMany({ pool: 500, host: 'x' }), /would make config 's\d+\/' invalid/);
    } finally {
      await config.close();
    }
  });
});
