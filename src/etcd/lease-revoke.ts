import type { Etcd3 } from 'etcd3';
import { encodeLeaseRevoke } from './proto/lease.js';
import { rawCall } from './raw-call.js';

/**
 * Revokes lease `id` (decimal, as etcd3 gives lease ids), deleting its keys: etcd3's
 * `leaseClient.leaseRevoke` sent as {@link rawCall} sends it. It is the write that hands a lock
 * or a leadership on when its session was made for it, so its JavaScript is on every such
 * handoff's path. Resolves once etcd revoked it; rejects with etcd3's typed error otherwise.
 */
export function revokeLease(etcd: Etcd3, id: string): Promise<void> {
  return rawCall(etcd, { service: 'Lease', method: 'LeaseRevoke' }, encodeLeaseRevoke(id), () => undefined);
}
