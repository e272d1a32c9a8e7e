import type { Subscription } from 'rxjs';
import { ClosedError } from './errors.js';
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

    // Watching from `revision + 1` would be exact, but etcd serves a watch that starts in the
    // past from a catch-up loop that runs only every 100 ms, which would delay every handoff.
    // So the watch starts "now", and once etcd has established it (the hub's first progress
    // batch) one read tells whether the key went away in between. If that read fails, fall back
    // to the exact watch from `revision + 1`.
    const follow = (fromRevision: bigint | undefined) => {
      let checked = fromRevision !== undefined;
      subscription?.unsubscribe();
      subscription = hubOf(runtime)
        .watch({ key }, fromRevision === undefined ? undefined : { fromRevision })
        .subscribe({
          next: (batch) => {
            if (batch.type === 'events') {
              if (batch.events.some((e) => e.type === 'delete' && e.kv.key === key)) finish();
            } else if (batch.type === 'resync') {
              if (!batch.snapshot.has(key)) finish();
            } else if (!checked) {
              checked = true;
              exists(runtime, key).then(
                (present) => {
                  if (!present) finish();
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

async function exists(runtime: Runtime, key: string): Promise<boolean> {
  const res = await runtime.etcd.kv.range({ key: runtime.keys.key(key), count_only: true });
  return BigInt(res.count) > 0n;
}
