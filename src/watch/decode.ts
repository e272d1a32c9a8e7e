import type { IKeyValue } from 'etcd3';
import type { Keyspace } from '../core/keys.js';
import type { RangeKv } from '../etcd/proto/range.js';
import type { KeyValue } from './types.js';

/** Converts etcd3's wire KeyValue (revisions as decimal strings) into concord's. */
export function toKeyValue(keys: Keyspace, kv: IKeyValue): KeyValue {
  return {
    key: keys.strip(kv.key),
    value: kv.value,
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
    version: BigInt(kv.version),
    lease: String(kv.lease),
  };
}

/** Converts one key of a range read (its key already stripped of the namespace) into concord's KeyValue. */
export function keyValueOf(key: string, kv: RangeKv): KeyValue {
  return {
    key,
    value: kv.value,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}
