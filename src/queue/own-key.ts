import type { ICompare, IRangeRequest, IRangeResponse } from 'etcd3';
import type { Runtime } from '../core/runtime.js';
import { ownKeyCompare } from '../etcd/txn.js';

/** A queue key put by {@link createOwnKey}. */
export interface OwnKey {
  /** The key's create revision. */
  createRevision: bigint;
  /** What the `look` read just before the put, when this call created the key. */
  looked?: IRangeResponse | undefined;
}

/**
 * Creates `key` with `value` on the lease `leaseId` and resolves to its create revision: the
 * entry's place in the queue and, once it holds, its fencing token. By default the key is
 * created only if absent; `onlyIf` replaces that condition (a try that enters only when nobody
 * is ahead). When the condition fails, a key already there on the same lease is adopted: it is
 * what an earlier attempt of this very call wrote before its answer was lost (etcd3 retries such
 * calls), so retrying after a cut is safe; with a naming of one key per lease it may also be an
 * earlier entry of the same session whose removal failed, which is resumed (as Go's recipes do)
 * with `value` written over the old one. Resolves to undefined when the condition fails and the
 * key is not ours. `look` is a read done in the same transaction just before the put (the queue
 * ahead, which the entry would otherwise read in a round trip of its own); an adopted key has none.
 */
export async function createOwnKey(
  runtime: Runtime,
  key: string,
  value: Buffer,
  leaseId: string,
  options: { onlyIf?: ICompare; look?: IRangeRequest } = {},
): Promise<OwnKey | undefined> {
  const { onlyIf, look } = options;
  const etcdKey = runtime.keys.key(key);
  const put = { request_put: { key: etcdKey, value, lease: leaseId, prev_kv: true } };
  const res = await runtime.etcd.kv.txn({
    compare: [onlyIf ?? { key: etcdKey, target: 'Create', result: 'Equal', create_revision: '0' }],
    success: look ? [{ request_range: look }, put] : [put],
    failure: [{ request_range: { key: etcdKey } }],
  });
  if (res.succeeded) {
    // A put that finds the key already there (only possible with `onlyIf`) keeps its create revision.
    const previous = res.responses.at(-1)?.response_put?.prev_kv;
    const looked = look ? res.responses[0]?.response_range : undefined;
    return { createRevision: BigInt(previous ? previous.create_revision : res.header.revision), looked };
  }
  const existing = res.responses[0]?.response_range?.kvs[0];
  if (!existing || existing.lease !== leaseId) return undefined;
  const createRevision = BigInt(existing.create_revision);
  if (Buffer.compare(existing.value, value) === 0) return { createRevision };
  const rewrite = await runtime.etcd.kv.txn({
    compare: [ownKeyCompare(runtime, key, createRevision)],
    success: [{ request_put: { key: etcdKey, value, lease: leaseId } }],
    failure: [],
  });
  return rewrite.succeeded ? { createRevision } : undefined;
}

/**
 * The compare that holds only while no key under `prefix` was created or written after
 * `revision`. A range compare holds for every key in the range, and on an empty range etcd
 * compares the zero value, so it holds then too: a look at the prefix at `revision` still stands.
 */
export function unchangedSince(runtime: Runtime, prefix: string, revision: bigint): ICompare {
  const range = runtime.keys.prefixRange(prefix);
  return {
    key: range.key,
    range_end: range.rangeEnd,
    target: 'Mod',
    result: 'Less',
    mod_revision: (revision + 1n).toString(),
  };
}
