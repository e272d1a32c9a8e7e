import type { WatchBatch } from '../watch/types.js';

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
