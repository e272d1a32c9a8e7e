import type { Subscription } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { ClosedError } from '../errors.js';
import { ownKeyCompare } from '../etcd/txn.js';
import { hubOf } from '../watch/hub.js';
import { resolveRange } from '../watch/range.js';
import type { WatchBatch, WatchRange } from '../watch/types.js';

/** A waiter ahead of the caller in a create-revision-ordered queue. */
export interface QueueEntry {
  key: string;
  createRevision: bigint;
}

/**
 * Creates `key` with `value` on the lease `leaseId` unless it exists, and resolves to its create
 * revision. A key already there on the same lease is adopted: it is what an earlier attempt of
 * this very call wrote before its answer was lost, so retrying after a cut is safe. Resolves to
 * undefined when the key exists on another lease.
 */
export async function createOwnKey(
  runtime: Runtime,
  key: string,
  value: Buffer,
  leaseId: string,
): Promise<bigint | undefined> {
  const etcdKey = runtime.keys.key(key);
  const res = await runtime.etcd.kv.txn({
    compare: [{ key: etcdKey, target: 'Create', result: 'Equal', create_revision: '0' }],
    success: [{ request_put: { key: etcdKey, value, lease: leaseId } }],
    failure: [{ request_range: { key: etcdKey } }],
  });
  if (res.succeeded) return BigInt(res.header.revision);
  const existing = res.responses[0]?.response_range?.kvs[0];
  return existing && existing.lease === leaseId ? BigInt(existing.create_revision) : undefined;
}

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
): Promise<{ lost: true } | { lost: false; revision: bigint; entries: QueueEntry[] }> {
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

/**
 * Resolves once `key` no longer exists; the caller saw it at `revision`. Watches only that one
 * key, so a release wakes only the waiter behind it. Rejects with the signal's reason when
 * `signal` aborts, and with the watch's error if the watch fails; either way the watch is
 * cancelled.
 */
export function waitDeleted(
  runtime: Runtime,
  key: string,
  revision: bigint,
  signal: AbortSignal,
): Promise<void> {
  return waitForDeletes(
    runtime,
    { key },
    new Set([key]),
    (remaining) => remaining.size === 0,
    revision,
    signal,
  );
}

/**
 * Resolves once `enough(remaining)` holds, where `remaining` holds the `keys` (all within
 * `range`, all seen existing at `revision`) not deleted since. Keys only ever leave
 * `remaining`. Same rejection and cleanup rules as {@link waitDeleted}.
 */
export function waitForDeletes(
  runtime: Runtime,
  range: WatchRange,
  keys: ReadonlySet<string>,
  enough: (remaining: ReadonlySet<string>) => boolean,
  revision: bigint,
  signal: AbortSignal,
): Promise<void> {
  const remaining = new Set(keys);
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let subscription: Subscription | undefined;
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      subscription?.unsubscribe();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => finish(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const keep = (present: (key: string) => boolean) => {
      for (const key of [...remaining]) if (!present(key)) remaining.delete(key);
      if (enough(remaining)) finish();
    };

    // Watching from `revision + 1` would be exact, but etcd serves a watch that starts in the
    // past from a catch-up loop that runs only every 100 ms, which would delay every handoff.
    // So the watch starts "now", and once etcd has established it (the hub's first progress
    // batch) one read tells which keys went away in between. If that read fails, fall back to
    // the exact watch from `revision + 1`.
    const follow = (fromRevision: bigint | undefined) => {
      let checked = fromRevision !== undefined;
      subscription?.unsubscribe();
      subscription = hubOf(runtime)
        .watch(range, fromRevision === undefined ? undefined : { fromRevision })
        .subscribe({
          next: (batch) => {
            if (batch.type === 'events') {
              const deleted = new Set(batch.events.filter((e) => e.type === 'delete').map((e) => e.kv.key));
              keep((key) => !deleted.has(key));
            } else if (batch.type === 'resync') {
              keep((key) => batch.snapshot.has(key));
            } else if (!checked) {
              checked = true;
              existing(runtime, range).then(
                (present) => {
                  if (!settled) keep((key) => present.has(key));
                },
                () => {
                  if (!settled) follow(revision + 1n);
                },
              );
            }
          },
          error: (err: unknown) => finish(err),
          complete: () => finish(signal.reason ?? new ClosedError('the watch ended: the Concord is closed')),
        });
    };
    follow(undefined);
  });
}

/** The keys that exist in `range` now. */
async function existing(runtime: Runtime, range: WatchRange): Promise<Set<string>> {
  const { key, rangeEnd } = resolveRange(runtime.keys, range);
  const res = await runtime.etcd.kv.range({
    key,
    ...(rangeEnd ? { range_end: rangeEnd } : {}),
    keys_only: true,
  });
  return new Set(res.kvs.map((kv) => runtime.keys.strip(kv.key)));
}

/**
 * True when a batch of a watch on `key` shows it deleted or re-created (another create
 * revision than `createRevision`): the holder of that key has lost what it guarded.
 */
export function keyReplaced(batch: WatchBatch, key: string, createRevision: bigint): boolean {
  if (batch.type === 'progress') return false;
  if (batch.type === 'resync') return batch.snapshot.get(key)?.createRevision !== createRevision;
  return batch.events.some(
    (e) => e.kv.key === key && (e.type === 'delete' || e.kv.createRevision !== createRevision),
  );
}
