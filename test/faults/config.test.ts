// Live config under faults: a cut client connection, compaction while disconnected, killed
// members. In each case the config must end up right without emitting anything wrong between:
// every value$ emission is a complete state that was written (never a mix), in write order,
// and errors$ reports exactly the invalid revisions it could see.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import type { Observable, Subscription } from 'rxjs';
import { z } from 'zod';
import type { LiveConfig } from '../../src/config/live-config.js';
import type { ConfigError } from '../../src/config/types.js';
import type { WatchBatch } from '../../src/watch/types.js';
import { useCluster } from '../support/fixture.js';
import { sleep, waitUntil } from '../support/wait.js';

const Schema = z.object({ v: z.number().int(), db: z.object({ pool: z.number().int() }) });
type Config = z.infer<typeof Schema>;

/** Writes state `v` ({ v, db: { pool: v * 10 } }) in one transaction; resolves with its revision. */
async function writeState(client: Etcd3, prefix: string, v: number): Promise<bigint> {
  const res = await client.kv.txn({
    compare: [],
    success: [
      { request_put: { key: Buffer.from(`${prefix}v`), value: Buffer.from(String(v)) } },
      { request_put: { key: Buffer.from(`${prefix}db/pool`), value: Buffer.from(String(v * 10)) } },
    ],
    failure: [],
  });
  return BigInt(res.header.revision);
}

async function writeInvalid(client: Etcd3, prefix: string): Promise<bigint> {
  const res = await client.kv.put({ key: Buffer.from(`${prefix}db/pool`), value: Buffer.from('"broken"') });
  return BigInt(res.header.revision);
}

class Recorder {
  readonly values: Config[] = [];
  readonly errors: ConfigError[] = [];
  private readonly subs: Subscription[];

  constructor(config: LiveConfig<Config>) {
    this.subs = [
      config.value$.subscribe((v) => this.values.push(v)),
      config.errors$.subscribe((e) => this.errors.push(e)),
    ];
  }

  reached(v: number, message: string): Promise<void> {
    return waitUntil(() => this.values.at(-1)?.v === v, { timeoutMs: 20_000, message });
  }

  /** Every emission is a whole written state, strictly in write order. */
  assertConsistent(): void {
    let last = Number.NEGATIVE_INFINITY;
    for (const value of this.values) {
      assert.equal(value.db.pool, value.v * 10, `emitted a mixed state: ${JSON.stringify(value)}`);
      assert.ok(value.v > last, `emitted out of order or twice: ${this.values.map((x) => x.v).join(',')}`);
      last = value.v;
    }
  }

  stop(): void {
    for (const sub of this.subs) sub.unsubscribe();
  }
}

function collect(stream: Observable<WatchBatch>): { batches: WatchBatch[]; sub: Subscription } {
  const batches: WatchBatch[] = [];
  return { batches, sub: stream.subscribe((b) => batches.push(b)) };
}

describe('single member behind a proxy', () => {
  const shared = useCluster({ proxy: true, concord: { watch: { stallTimeoutMs: 2_000 } } });

  test('stream cuts: every revision arrives once, in order, invalid ones only on errors$', async () => {
    const prefix = 'cut/';
    const client = shared.cluster.client();
    await writeState(client, prefix, 0);
    const config = shared.concord.config(prefix, { schema: Schema });
    const rec = new Recorder(config);
    try {
      await rec.reached(0, 'the initial state');
      let invalidRevision = 0n;
      for (let v = 1; v <= 30; v++) {
        if (v % 10 === 0) shared.proxy.cut();
        if (v === 15) invalidRevision = await writeInvalid(client, prefix);
        await writeState(client, prefix, v);
        await sleep(20);
      }
      // Held off entirely for a while, then back: the hub resumes from the last revision it delivered.
      shared.proxy.blackhole();
      for (let v = 31; v <= 35; v++) await writeState(client, prefix, v);
      shared.proxy.restore();
      await rec.reached(35, 'the last state');
      rec.assertConsistent();
      assert.deepEqual(
        rec.values.map((x) => x.v),
        Array.from({ length: 36 }, (_, i) => i),
        'no revision lost or repeated',
      );
      assert.deepEqual(
        rec.errors.map((e) => [e.key, e.revision]),
        [['db/pool', invalidRevision]],
      );
      assert.equal(config.current().v, 35);
    } finally {
      rec.stop();
      await config.close();
    }
  });

  test('compaction while disconnected: one resync to the final state, nothing in between', async () => {
    const prefix = 'compact/';
    const client = shared.cluster.client();
    await writeState(client, prefix, 1);
    const config = shared.concord.config(prefix, { schema: Schema });
    const rec = new Recorder(config);
    // A raw watch of the same prefix, to see that etcd really made the hub resync.
    const raw = collect(shared.concord.watch({ prefix }));
    try {
      await rec.reached(1, 'the initial state');
      shared.proxy.blackhole();
      await writeState(client, prefix, 2);
      await writeInvalid(client, prefix);
      await writeState(client, prefix, 3);
      await writeState(client, prefix, 4);
      await shared.cluster.compact();
      shared.proxy.restore();
      await rec.reached(4, 'the final state');
      await waitUntil(() => raw.batches.some((b) => b.type === 'resync'), { message: 'a resync batch' });
      rec.assertConsistent();
      assert.deepEqual(
        rec.values.map((x) => x.v),
        [1, 4],
        'the states compacted away are skipped, not replayed or mixed',
      );
      assert.deepEqual(rec.errors, [], 'the compacted invalid write is never reported');

      // And it keeps following afterwards.
      await writeState(client, prefix, 5);
      await rec.reached(5, 'a write after the resync');
      rec.assertConsistent();
    } finally {
      raw.sub.unsubscribe();
      rec.stop();
      await config.close();
    }
  });
});

describe('three members', () => {
  const shared = useCluster({ size: 3, concord: { watch: { stallTimeoutMs: 2_000 } } });

  test('each member killed in turn: the config follows every write, with no gap or mix', async () => {
    const prefix = 'kill/';
    await writeState(shared.cluster.members[0]!.client(), prefix, 0);
    const config = shared.concord.config(prefix, { schema: Schema });
    const rec = new Recorder(config);
    try {
      await rec.reached(0, 'the initial state');
      let v = 0;
      // Killing each member in turn is sure to hit the one carrying the watch stream.
      for (const [i, member] of shared.cluster.members.entries()) {
        await member.kill();
        const survivor = shared.cluster.members[(i + 1) % shared.cluster.members.length]!;
        for (let n = 0; n < 3; n++) {
          v++;
          const state = v;
          await waitUntil(
            async () => {
              await writeState(survivor.client(), prefix, state);
              return true;
            },
            { timeoutMs: 15_000, message: `write ${state} while ${member.name} is down` },
          );
        }
        await rec.reached(v, `state ${v} with ${member.name} down`);
        await member.start();
        await shared.cluster.waitHealthy(20_000);
      }
      rec.assertConsistent();
      assert.deepEqual(
        rec.values.map((x) => x.v),
        Array.from({ length: v + 1 }, (_, i) => i),
      );
      assert.deepEqual(rec.errors, []);
    } finally {
      rec.stop();
      await config.close();
    }
  });
});
