// A decoder for etcd's RangeResponse that reads only what concord uses, straight from the
// protobuf wire bytes. etcd3's generic path (protobufjs decode, then toObject with every int64
// as a Long turned into a decimal string) costs several times more per key than the parsing
// that follows it: for a range of 10,000 instances it was most of the time to the first list.
//
// Wire format (etcd/api/etcdserverpb/rpc.proto, mvccpb/kv.proto), the fields read:
//   RangeResponse  { ResponseHeader header = 1; repeated KeyValue kvs = 2; bool more = 3; }
//   ResponseHeader { int64 revision = 3; }
//   KeyValue       { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3;
//                    int64 version = 4; bytes value = 5; int64 lease = 6; }
// Unknown fields are skipped by wire type, so fields etcd adds later do no harm.

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

/** Protobuf wire types (the low three bits of a tag). */
export const VARINT = 0;
const FIXED64 = 1;
export const BYTES = 2;
const FIXED32 = 5;

/** A cursor over protobuf wire bytes (etcd's responses: see decodeRangeResponse and decodeWatchResponse). */
export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint as a number: exact below 2^53, which every length and tag is. */
  uint(): number {
    const { buf } = this;
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('etcd response: truncated varint');
      const byte = buf[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  }

  /** A varint as a signed 64-bit integer (negative numbers take ten bytes). */
  int64(): bigint {
    const start = this.pos;
    const value = this.uint();
    // Up to seven bytes the number is exact (below 2^49); beyond, redo it in bigint arithmetic.
    if (this.pos - start <= 7) return BigInt(value);
    let exact = 0n;
    for (let i = this.pos - 1; i >= start; i--) exact = (exact << 7n) | BigInt(this.buf[i]! & 0x7f);
    return BigInt.asIntN(64, exact);
  }

  /** Reads the length of a length-delimited field: its bytes are [pos, the end returned). */
  field(): number {
    const end = this.uint() + this.pos;
    if (end > this.end) throw new Error('etcd response: truncated field');
    return end;
  }

  /** The bytes of a length-delimited field (a view, not a copy); the cursor moves past them. */
  bytes(): Buffer {
    const end = this.field();
    const bytes = this.buf.subarray(this.pos, end);
    this.pos = end;
    return bytes;
  }

  skipField(wireType: number): void {
    if (wireType === VARINT) this.uint();
    else if (wireType === BYTES) this.pos = this.field();
    else if (wireType === FIXED64) this.pos += 8;
    else if (wireType === FIXED32) this.pos += 4;
    else throw new Error(`etcd response: unsupported wire type ${wireType}`);
  }
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
