import type { Etcd3 } from 'etcd3';
import type { RangeRequest } from './proto/range.js';
import { decodeGuardedRead, encodeGuardedRead, type GuardedRead } from './proto/txn.js';
import { rawCall } from './raw-call.js';

/**
 * One Txn that reads `range` only if `guard.key` (a full etcd key) exists with create revision
 * `guard.createRevision`, sent as {@link rawCall} sends it (etcd3's hosts, credentials, deadlines,
 * retries; a read-only transaction, so a retry after a lost answer is harmless). It is the
 * re-check every waiter makes after each wait, on the handoff's path.
 */
export function guardedRead(
  etcd: Etcd3,
  guard: { key: Buffer; createRevision: bigint },
  range: RangeRequest,
): Promise<GuardedRead> {
  return rawCall(etcd, { service: 'KV', method: 'Txn' }, encodeGuardedRead(guard, range), decodeGuardedRead);
}
