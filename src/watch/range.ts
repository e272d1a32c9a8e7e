import type { Etcd3 } from 'etcd3';
import type { Keyspace } from '../keys.js';
import { toKeyValue } from './decode.js';
import type { KeyValue, WatchRange } from './types.js';

/** A watch range resolved to etcd bytes. `rangeEnd` is absent for a single key. */
export interface EtcdRange {
  key: Buffer;
  rangeEnd?: Buffer;
}

/** Resolves a caller's range against the keyspace. */
export function resolveRange(keys: Keyspace, range: WatchRange): EtcdRange {
  return 'prefix' in range ? keys.prefixRange(range.prefix) : { key: keys.key(range.key) };
}

/** A stable identity for a range, used to share one server-side watch between subscribers. */
export function rangeId(range: EtcdRange): string {
  return `${range.key.toString('hex')}:${range.rangeEnd?.toString('hex') ?? ''}`;
}

/** The outcome of {@link readRange}: every key in the range as of `revision`. */
export interface RangeSnapshot {
  revision: bigint;
  entries: Map<string, KeyValue>;
  /** Range RPCs it took (pages). */
  pages: number;
}

/**
 * Reads every key of a range at one revision, `pageSize` keys per request, so that a large
 * prefix never needs one huge response. The first page is a linearizable read and fixes the
 * revision; later pages read at that same revision, so the result is one consistent cut.
 */
export async function readRange(
  etcd: Etcd3,
  keys: Keyspace,
  range: EtcdRange,
  pageSize: number,
  atRevision?: bigint,
): Promise<RangeSnapshot> {
  const entries = new Map<string, KeyValue>();
  let revision = atRevision ?? 0n;
  let start = range.key;
  let pages = 0;
  for (;;) {
    const res = await etcd.kv.range({
      key: start,
      ...(range.rangeEnd ? { range_end: range.rangeEnd } : {}),
      ...(revision > 0n ? { revision: revision.toString() } : {}),
      ...(range.rangeEnd ? { limit: pageSize } : {}),
    });
    pages++;
    if (revision === 0n) revision = BigInt(res.header.revision);
    for (const kv of res.kvs) entries.set(keys.strip(kv.key), toKeyValue(keys, kv));
    const last = res.kvs.at(-1);
    if (!res.more || !last || !range.rangeEnd) break;
    start = Buffer.concat([last.key, Buffer.from([0])]);
  }
  return { revision, entries, pages };
}
