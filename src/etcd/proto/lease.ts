// etcd's LeaseRevoke RPC on the wire (etcd/api/etcdserverpb/rpc.proto):
//   LeaseRevokeRequest { int64 ID = 1; }
// Its response carries only a header, which nobody reads.

import { Writer } from './writer.js';

/** The LeaseRevokeRequest of lease `id` (decimal, as etcd3 gives lease ids). */
export function encodeLeaseRevoke(id: string): Buffer {
  return new Writer().varint(1, BigInt(id)).finish();
}
