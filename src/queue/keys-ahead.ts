import type { Runtime } from '../core/runtime.js';
import { ownKeyCompare } from '../etcd/txn.js';

/** An entry of a create-revision-ordered queue: its key and the revision that created it. */
export interface QueueEntry {
  readonly key: string;
  readonly createRevision: bigint;
}

/** What a guarded look at the queue found: `own` is gone, or the entries ahead of it at `revision`. */
export type Ahead = { lost: true } | { lost: false; revision: bigint; entries: QueueEntry[] };

/**
 * Reads, in one transaction guarded by `own` still existing at its create revision, the keys
 * under `prefix` created before it, newest first (at most `limit`; 0 for all). Reports `lost`
 * when the guard fails, so a waiter whose key expired can never believe it reached the front.
 */
export async function keysAhead(
  runtime: Runtime,
  own: QueueEntry,
  prefix: string,
  limit: number,
): Promise<Ahead> {
  const range = runtime.keys.prefixRange(prefix);
  const res = await runtime.etcd.kv.txn({
    compare: [ownKeyCompare(runtime, own.key, own.createRevision)],
    success: [
      {
        request_range: {
          key: range.key,
          range_end: range.rangeEnd,
          max_create_revision: (own.createRevision - 1n).toString(),
          sort_target: 'Create',
          sort_order: 'Descend',
          limit,
          keys_only: true,
        },
      },
    ],
    failure: [],
  });
  if (!res.succeeded) return { lost: true };
  const kvs = res.responses[0]?.response_range?.kvs ?? [];
  return {
    lost: false,
    revision: BigInt(res.header.revision),
    entries: kvs.map((kv) => ({
      key: runtime.keys.strip(kv.key),
      createRevision: BigInt(kv.create_revision),
    })),
  };
}
