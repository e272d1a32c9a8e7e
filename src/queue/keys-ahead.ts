import type { IRangeRequest, IRangeResponse } from 'etcd3';
import type { Runtime } from '../core/runtime.js';
import { guardedRead } from '../etcd/guarded-read.js';
import { toConcordError } from '../etcd/translate.js';
import type { QueueSpace } from './keys.js';

/** An entry of a create-revision-ordered queue: its key and the revision that created it. */
export interface QueueEntry {
  readonly key: string;
  readonly createRevision: bigint;
}

/**
 * The entries ahead of a queue entry at `revision`, a revision at which the entry existed, newest
 * first. `complete`: `entries` are all of them (the read found no more), not only the newest few.
 */
export type Seen = { lost: false; revision: bigint; entries: QueueEntry[]; complete: boolean };

/** What a guarded look at the queue found: `own` is gone, or the entries ahead of it. */
export type Ahead = { lost: true } | Seen;

/** Keys read per request before falling back to reading everything (see {@link keysAhead}). */
const PAGE = 64;

/** One read of keys (names, leases and create revisions; no values). */
interface KeysRead {
  revision: bigint;
  keys: Array<QueueEntry & { lease: string }>;
  more: boolean;
}

/**
 * Reads, in one transaction guarded by `own` still existing at its create revision, the queue
 * entries of `space` created before it, newest first (at most `limit`; 0 for all). Reports `lost`
 * when the guard fails, so a waiter whose key expired can never believe it reached the front.
 * Keys under the prefix that are not entries are skipped (see `queueSpace`): when they fill the
 * first read, everything ahead is read once more in full.
 */
export async function keysAhead(
  runtime: Runtime,
  own: QueueEntry,
  space: QueueSpace,
  limit: number,
): Promise<Ahead> {
  const read = (pageLimit: number) => readAhead(runtime, own, space.prefix, pageLimit);
  const found = await read(limit);
  if (found === undefined) return { lost: true };
  const seen = seenIn(runtime, space, limit, found);
  if (seen) return seen;
  const all = await read(0);
  return all === undefined ? { lost: true } : seenIn(runtime, space, limit, all, true)!;
}

/**
 * The read a new entry makes in the transaction that puts its key, just before the put: the
 * newest `limit` keys of `space` (0: all). Every key there then is older than the one put, so it
 * reads what {@link keysAhead} would read right after, without a round trip of its own.
 */
export function lookBeforePut(runtime: Runtime, space: QueueSpace, limit: number): IRangeRequest {
  const range = runtime.keys.prefixRange(space.prefix);
  return {
    key: range.key,
    range_end: range.rangeEnd,
    keys_only: true,
    sort_target: 'Create',
    sort_order: 'Descend',
    limit,
  };
}

/**
 * The entries ahead that {@link lookBeforePut} found, as of `revision` (the put's), or undefined
 * when the page held too few entries to tell (then {@link keysAhead} reads again).
 */
export function seenBeforePut(
  runtime: Runtime,
  space: QueueSpace,
  limit: number,
  revision: bigint,
  res: IRangeResponse | undefined,
): Seen | undefined {
  return seenIn(runtime, space, limit, toKeysRead(runtime, revision, res));
}

/**
 * The first `limit` entries (0: all) of `found`, or undefined when more keys must be read to find
 * them (never when `found` is `complete`, a read of every key).
 */
function seenIn(
  runtime: Runtime,
  space: QueueSpace,
  limit: number,
  found: KeysRead,
  complete = false,
): Seen | undefined {
  const entries = entriesOf(runtime, space, found);
  if (!complete && limit > 0 && entries.length < limit && found.more) return undefined;
  // etcd reports `more` after its create-revision filter, so a read without more saw every key ahead.
  const all = (complete || !found.more) && (limit === 0 || entries.length <= limit);
  return {
    lost: false,
    revision: found.revision,
    entries: limit > 0 ? entries.slice(0, limit) : entries,
    complete: all,
  };
}

/**
 * Counts the queue entries of `space` (reading keys only), as far as `atLeast`. A count below
 * `atLeast` comes from a read of every key under the prefix, at `revision`: as long as nothing
 * under the prefix is created or written after it (`unchangedSince`), that count holds.
 */
export async function countEntries(
  runtime: Runtime,
  space: QueueSpace,
  atLeast: number,
  what: string,
): Promise<{ count: number; revision: bigint }> {
  try {
    let found = await plainRead(runtime, space.prefix, Math.max(PAGE, atLeast));
    let count = entriesOf(runtime, space, found).length;
    if (count < atLeast && found.more) {
      found = await plainRead(runtime, space.prefix, 0);
      count = entriesOf(runtime, space, found).length;
    }
    return { count, revision: found.revision };
  } catch (err) {
    throw toConcordError(err, what);
  }
}

/** Keys already logged as ignored, per Concord: a wait or a polling try looks at them again and again. */
const reported = new WeakMap<Runtime, Set<string>>();

/** The entries among `found`, in its order; other keys are logged (once each). */
function entriesOf(runtime: Runtime, space: QueueSpace, found: KeysRead): QueueEntry[] {
  const entries: QueueEntry[] = [];
  const ignored: string[] = [];
  const seen = reported.get(runtime) ?? new Set<string>();
  reported.set(runtime, seen);
  for (const { key, lease, createRevision } of found.keys) {
    if (space.isEntry(key, lease)) entries.push({ key, createRevision });
    else if (!seen.has(key)) {
      seen.add(key);
      ignored.push(key);
    }
  }
  if (ignored.length > 0) {
    runtime.log.warn('keys under a queue prefix that are not queue entries are ignored', {
      prefix: space.prefix,
      ignored: ignored.slice(0, 5),
      count: ignored.length,
    });
  }
  return entries;
}

/**
 * Reads the keys under `prefix` created before `own`, newest first (at most `limit`; 0 for all),
 * only while `own` exists; undefined when it does not. Round trip (Txn) after a wait that could
 * not prove the front itself (see `newestAhead`): the guard is what makes "a waiter whose key is
 * gone never holds" exact at the revision of the look, and the read finds an older entry still
 * there when the one waited on was a waiter that gave up (mutual exclusion, FIFO).
 */
async function readAhead(
  runtime: Runtime,
  own: QueueEntry,
  prefix: string,
  limit: number,
): Promise<KeysRead | undefined> {
  const { key, rangeEnd } = runtime.keys.prefixRange(prefix);
  const guard = { key: runtime.keys.key(own.key), createRevision: own.createRevision };
  const res = await guardedRead(runtime.etcd, guard, {
    key,
    rangeEnd,
    limit,
    maxCreateRevision: own.createRevision - 1n,
    newestFirst: true,
    keysOnly: true,
  });
  if (!res.succeeded) return undefined;
  const keys = (res.range?.kvs ?? []).map((kv) => ({
    key: runtime.keys.strip(kv.key),
    lease: kv.lease,
    createRevision: kv.createRevision,
  }));
  return { revision: res.revision, keys, more: res.range?.more ?? false };
}

async function plainRead(runtime: Runtime, prefix: string, limit: number): Promise<KeysRead> {
  const range = runtime.keys.prefixRange(prefix);
  const res = await runtime.etcd.kv.range({
    key: range.key,
    range_end: range.rangeEnd,
    keys_only: true,
    limit,
  });
  return toKeysRead(runtime, BigInt(res.header.revision), res);
}

function toKeysRead(
  runtime: Runtime,
  revision: bigint,
  res: { kvs: Array<{ key: Buffer; lease: string; create_revision: string }>; more: boolean } | undefined,
): KeysRead {
  const keys = (res?.kvs ?? []).map((kv) => ({
    key: runtime.keys.strip(kv.key),
    lease: String(kv.lease),
    createRevision: BigInt(kv.create_revision),
  }));
  return { revision, keys, more: res?.more ?? false };
}
