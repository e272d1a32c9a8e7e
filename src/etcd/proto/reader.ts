// Reading protobuf wire bytes (https://protobuf.dev/programming-guides/encoding/): the cursor
// concord's own decoders of etcd's responses share (range.ts, watch.ts, txn.ts).

/** Protobuf wire types (the low three bits of a tag). */
export const VARINT = 0;
const FIXED64 = 1;
export const BYTES = 2;
const FIXED32 = 5;

/** A cursor over protobuf wire bytes (etcd's responses). */
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
