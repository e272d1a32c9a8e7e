import type { IKeyValue } from 'etcd3';
import type { Keyspace } from '../core/keys.js';
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
