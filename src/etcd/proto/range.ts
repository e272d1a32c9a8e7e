// etcd's Range RPC on the wire: the request as concord sends it, and a decoder for the response
// that reads only what concord uses. etcd3's generic path (protobufjs decode, then toObject with
// every int64 as a Long turned into a decimal string) costs several times more per key than the
// parsing that follows it: for a range of 10,000 instances it was most of the time to the first
// list.
//
// Wire format (etcd/api/etcdserverpb/rpc.proto, mvccpb/kv.proto), the fields written and read:
//   RangeRequest   { bytes key = 1; bytes range_end = 2; int64 limit = 3; int64 revision = 4;
//                    SortOrder sort_order = 5 (DESCEND = 2); SortTarget sort_target = 6
//                    (CREATE = 2); bool keys_only = 8; int64 max_create_revision = 13; }
//   RangeResponse  { ResponseHeader header = 1; repeated KeyValue kvs = 2; bool more = 3; }
//   ResponseHeader { int64 revision = 3; }
//   KeyValue       { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3;
//                    int64 version = 4; bytes value = 5; int64 lease = 6; }
// Unknown fields are skipped by wire type, so fields etcd adds later do no harm.

import { BYTES, Reader, VARINT } from './reader.js';
import { Writer } from './writer.js';

/** A Range request, as far as concord makes them. */
export interface RangeRequest {
  readonly key: Buffer;
  /** The end of the range (exclusive); without it, `key` alone. */
  readonly rangeEnd?: Buffer | undefined;
  /** At most this many keys (0 or none: all). */
  readonly limit?: number | undefined;
  /** Read as of this revision (none: the latest). */
  readonly revision?: bigint | undefined;
  /** Keys with a create revision at most this. */
  readonly maxCreateRevision?: bigint | undefined;
  /** Newest created first (sorted by create revision, descending); otherwise in key order. */
  readonly newestFirst?: boolean | undefined;
  /** Keys and their metadata without values. */
  readonly keysOnly?: boolean | undefined;
}

const DESCEND = 2;
const BY_CREATE = 2;

/** The RangeRequest message of `request` (fields at their default left out). */
export function rangeRequest(request: RangeRequest): Writer {
  const message = new Writer().bytes(1, request.key);
  if (request.rangeEnd) message.bytes(2, request.rangeEnd);
  if (request.limit) message.varint(3, request.limit);
  if (request.revision) message.varint(4, request.revision);
  if (request.newestFirst) message.varint(5, DESCEND).varint(6, BY_CREATE);
  if (request.keysOnly) message.varint(8, true);
  if (request.maxCreateRevision) message.varint(13, request.maxCreateRevision);
  return message;
}

/** One key of a range read. `key` and `value` are views into the response (not copies). */
export interface RangeKv {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly modRevision: bigint;
  readonly createRevision: bigint;
  readonly version: bigint;
  /** The lease id in decimal, '0' for none (as etcd3 gives it). */
  readonly lease: string;
}

/** One page of a range read. */
export interface RangePage {
  revision: bigint;
  kvs: RangeKv[];
  more: boolean;
}

/**
 * A KeyValue read from the wire: key, value and mod revision decoded at once, the fields fewer
 * readers need (create revision, version, lease) only when asked for.
 */
class WireKv implements RangeKv {
  constructor(
    readonly key: Buffer,
    readonly value: Buffer,
    readonly modRevision: bigint,
    private readonly buf: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {}

  get createRevision(): bigint {
    return this.int64Field(2);
  }

  get version(): bigint {
    return this.int64Field(4);
  }

  get lease(): string {
    return this.int64Field(6).toString();
  }

  private int64Field(field: number): bigint {
    const reader = new Reader(this.buf, this.start, this.end);
    let value = 0n;
    while (reader.pos < reader.end) {
      const tag = reader.uint();
      if (tag >>> 3 === field && (tag & 7) === VARINT) value = reader.int64();
      else reader.skipField(tag & 7);
    }
    return value;
  }
}

/** Decodes a serialized RangeResponse. Throws on malformed input. */
export function decodeRangeResponse(buf: Buffer): RangePage {
  // One cursor for the response and the messages nested in it: nothing allocated per field.
  const reader = new Reader(buf, 0, buf.length);
  const page: RangePage = { revision: 0n, kvs: [], more: false };
  while (reader.pos < reader.end) {
    const tag = reader.uint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 2 && wireType === BYTES) {
      page.kvs.push(decodeKeyValue(reader, reader.field()));
    } else if (field === 1 && wireType === BYTES) {
      page.revision = decodeHeaderRevision(reader, reader.field());
    } else if (field === 3 && wireType === VARINT) {
      page.more = reader.uint() !== 0;
    } else {
      reader.skipField(wireType);
    }
  }
  return page;
}

/** The KeyValue in [reader.pos, end); the cursor ends at `end`. */
function decodeKeyValue(reader: Reader, end: number): RangeKv {
  const start = reader.pos;
  let key: Buffer = EMPTY;
  let value: Buffer = EMPTY;
  let modRevision = 0n;
  while (reader.pos < end) {
    const tag = reader.uint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 1 && wireType === BYTES) key = reader.bytes();
    else if (field === 5 && wireType === BYTES) value = reader.bytes();
    else if (field === 3 && wireType === VARINT) modRevision = reader.int64();
    else reader.skipField(wireType);
  }
  if (reader.pos !== end) throw new Error('range response: a field overruns its message');
  return new WireKv(key, value, modRevision, reader.buf, start, end);
}

/** The revision of the ResponseHeader in [reader.pos, end); the cursor ends at `end`. */
export function decodeHeaderRevision(reader: Reader, end: number): bigint {
  let revision = 0n;
  while (reader.pos < end) {
    const tag = reader.uint();
    if (tag >>> 3 === 3 && (tag & 7) === VARINT) revision = reader.int64();
    else reader.skipField(tag & 7);
  }
  if (reader.pos !== end) throw new Error('etcd response: a field overruns its message');
  return revision;
}

const EMPTY = Buffer.alloc(0);
