import type { Runtime } from './runtime.js';
import { hubOf } from './watch/hub.js';

/** A waiter ahead of the caller in a create-revision-ordered queue. */
export interface QueueEntry {
  key: string;
  createRevision: bigint;
}

/**
 * The keys under `prefix` created before `createRevision`, newest first, at most `limit`
 * of them, plus the revision the read saw. A fair queue waits on these: the caller is at the
 * front once none remain.
 */
export async function predecessors(
  runtime: Runtime,
  prefix: string,
  createRevision: bigint,
  limit: number,
): Promise<{ entries: QueueEntry[]; revision: bigint }> {
  const range = runtime.keys.prefixRange(prefix);
  const res = await runtime.etcd.kv.range({
    key: range.key,
    range_end: range.rangeEnd,
    max_create_revision: (createRevision - 1n).toString(),
    sort_target: 'Create',
    sort_order: 'Descend',
    limit,
    keys_only: true,
  });
  return {
    revision: BigInt(res.header.revision),
    entries: res.kvs.map((kv) => ({
      key: runtime.keys.strip(kv.key),
      createRevision: BigInt(kv.create_revision),
    })),
  };
}

/**
 * Resolves once `key` no longer exists, judged from `revision` on (the revision at which the
 * caller saw it). Watches only that one key, so a release wakes only the waiter behind it.
 * Rejects with the signal's reason when `signal` aborts, and with the watch's error if the
 * watch fails; either way the watch is cancelled.
 */
export function waitDeleted(
  runtime: Runtime,
  key: string,
  revision: bigint,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      subscription.unsubscribe();
      reject(signal.reason);
    };
    const subscription = hubOf(runtime)
      .watch({ key }, { fromRevision: revision + 1n })
      .subscribe({
        next: (batch) => {
          const gone =
            batch.type === 'events'
              ? batch.events.some((e) => e.type === 'delete' && e.kv.key === key)
              : batch.type === 'resync' && !batch.snapshot.has(key);
          if (!gone) return;
          signal.removeEventListener('abort', onAbort);
          subscription.unsubscribe();
          resolve();
        },
        error: (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
        complete: () => {
          signal.removeEventListener('abort', onAbort);
          reject(signal.reason ?? new Error('watch completed'));
        },
      });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
