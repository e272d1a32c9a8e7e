import type { Etcd3 } from 'etcd3';
import { decodeRangeResponse, type RangePage, type RangeRequest, rangeRequest } from './proto/range.js';
import { rawCall } from './raw-call.js';

/**
 * One Range RPC as `etcd.kv.range` makes it (see {@link rawCall}: etcd3's hosts, credentials,
 * deadlines, retries), encoded and decoded by concord (`proto/range.ts`) instead of etcd3's
 * generic protobuf path. Errors come out as etcd3's typed errors.
 */
export function rangePage(etcd: Etcd3, request: RangeRequest): Promise<RangePage> {
  return rawCall(
    etcd,
    { service: 'KV', method: 'Range' },
    rangeRequest(request).finish(),
    decodeRangeResponse,
  );
}
