// The no-gap, no-duplicate scenario shared by the fault tests: a writer creates numbered keys
// while faults hit the client's path to etcd; every value must reach a watch subscriber exactly
// once and in order, and a view must end equal to a linearizable read.
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { Concord } from '../../src/concord.js';
import type { ConcordOptions } from '../../src/options.js';
import type { View, WatchBatch } from '../../src/watch/types.js';
import { sleep, waitUntil } from '../support/wait.js';

/** How one run went, for the test's diagnostics. */
export interface SequenceReport {
  writeMs: number;
  /** Batches the watch subscriber received (events, progress; no resync expected). */
  batches: number;
  /** Times the hub's stream broke and was resumed. */
  interruptions: number;
  /** Writes retried because etcd could not be reached. */
  retries: number;
}

const key = (prefix: string, i: number) => `${prefix}${String(i).padStart(5, '0')}`;

/**
 * Creates `count` keys `<prefix>00000`... with values '0', '1', ... one after the other, through
 * `writer`. Each create is guarded by "does not exist yet", so retrying one whose answer was lost
 * can never write it twice. `onWritten(i)` runs after value i is known to be stored: inject faults there.
 */
async function writeSequence(
  writer: Etcd3,
  prefix: string,
  count: number,
  onWritten: (i: number) => Promise<void> | void,
): Promise<number> {
  let retries = 0;
  for (let i = 0; i < count; i++) {
    const name = Buffer.from(key(prefix, i));
    for (;;) {
      try {
        await writer.kv.txn(
          {
            compare: [{ key: name, target: 'Create', result: 'Equal', create_revision: '0' }],
            success: [{ request_put: { key: name, value: Buffer.from(String(i)) } }],
            failure: [],
          },
          { deadline: Date.now() + 2_000 },
        );
        break;
      } catch {
        retries++;
        await sleep(50);
      }
    }
    await onWritten(i);
  }
  return retries;
}

/**
 * Runs the scenario: subscribes a watch and a view through a Concord made with `options`, writes
 * `count` values through `writer` (calling `onWritten` after each), then checks that the watch
 * saw every value exactly once in order and that the view equals a linearizable read of `reader`.
 */
export async function runSequence(opts: {
  options: ConcordOptions;
  writer: Etcd3;
  reader: Etcd3;
  prefix: string;
  count: number;
  onWritten: (i: number) => Promise<void> | void;
  timeoutMs?: number;
}): Promise<SequenceReport> {
  const { prefix, count } = opts;
  let interruptions = 0;
  const concord = new Concord({
    ...opts.options,
    logger: {
      warn: (message) => {
        if (message === 'watch stream interrupted; resuming') interruptions++;
      },
    },
  });
  const batches: WatchBatch[] = [];
  const errors: unknown[] = [];
  let view: View | undefined;
  try {
    const watchSub = concord.watch({ prefix }).subscribe({
      next: (b) => batches.push(b),
      error: (e) => errors.push(e),
    });
    // A second server-side watch on the same stream (prevKv makes it distinct): both resume.
    const withPrev: WatchBatch[] = [];
    const prevSub = concord.watch({ prefix }, { prevKv: true }).subscribe({
      next: (b) => withPrev.push(b),
      error: (e) => errors.push(e),
    });
    const viewSub = concord.view({ prefix }).subscribe({
      next: (v) => {
        view = v;
      },
      error: (e) => errors.push(e),
    });
    await waitUntil(() => batches.length > 0 && withPrev.length > 0 && view !== undefined, {
      timeoutMs: 10_000,
    });
    const started = Date.now();
    const retries = await writeSequence(opts.writer, prefix, count, opts.onWritten);
    const writeMs = Date.now() - started;

    const stored = await opts.reader.kv.range({
      key: Buffer.from(prefix),
      range_end: Buffer.from(
        `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`,
      ),
    });
    assert.equal(stored.kvs.length, count);
    const lastWrite = stored.kvs.reduce(
      (max, kv) => (BigInt(kv.mod_revision) > max ? BigInt(kv.mod_revision) : max),
      0n,
    );
    await waitUntil(
      () =>
        view?.revision === lastWrite &&
        batches.at(-1)?.revision === lastWrite &&
        withPrev.at(-1)?.revision === lastWrite,
      {
        timeoutMs: opts.timeoutMs ?? 20_000,
        message: `the watches and the view reaching revision ${lastWrite}`,
      },
    );
    assert.deepEqual(errors, []);

    // Exactly once, in order: the n-th event carries value n, at the revision etcd stored it.
    const events = batches.flatMap((b) =>
      b.type === 'events' ? b.events.map((e) => ({ e, revision: b.revision })) : [],
    );
    assert.equal(events.length, count, `${events.length} events for ${count} values`);
    const storedRevision = new Map(stored.kvs.map((kv) => [kv.key.toString(), BigInt(kv.mod_revision)]));
    for (let i = 0; i < count; i++) {
      const { e, revision } = events[i]!;
      if (e.type !== 'put' || e.kv.value.toString() !== String(i) || e.kv.key !== key(prefix, i)) {
        assert.fail(
          `event ${i} is ${e.type} ${e.kv.key}=${e.kv.value.toString()}, expected put ${key(prefix, i)}=${i}`,
        );
      }
      assert.equal(revision, storedRevision.get(e.kv.key));
    }
    assert.ok(batches.every((b) => b.type !== 'resync'));
    assert.deepEqual(
      withPrev.map((b) => b.revision),
      batches.map((b) => b.revision),
    );
    for (let i = 1; i < batches.length; i++) {
      if (batches[i]!.revision <= batches[i - 1]!.revision) {
        assert.fail(`batch ${i} at revision ${batches[i]!.revision} after ${batches[i - 1]!.revision}`);
      }
    }

    // The view is exactly what a linearizable read returns.
    const expected = new Map(
      stored.kvs.map((kv) => [
        kv.key.toString(),
        [kv.value.toString(), kv.create_revision, kv.mod_revision, kv.version],
      ]),
    );
    const actual = new Map(
      [...(view?.entries ?? [])].map(([k, kv]) => [
        k,
        [kv.value.toString(), String(kv.createRevision), String(kv.modRevision), String(kv.version)],
      ]),
    );
    assert.deepEqual(actual, expected);

    watchSub.unsubscribe();
    prevSub.unsubscribe();
    viewSub.unsubscribe();
    return { writeMs, batches: batches.length, interruptions, retries };
  } finally {
    await concord.close();
  }
}
