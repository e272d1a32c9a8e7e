import { HpackError, huffmanDecode } from './huffman.js';

export { HpackError } from './huffman.js';

/** RFC 7541 Appendix A: entries 1..61, shared by every connection and never changed. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Index of the first dynamic entry (§2.3.3): the newest one. */
const FIRST_DYNAMIC = STATIC_TABLE.length + 1;
// Flat by index (slot 0 unused) so that the hot path of a decode reads two arrays of strings.
const STATIC_NAMES = ['', ...STATIC_TABLE.map(([name]) => name)];
const STATIC_VALUES = ['', ...STATIC_TABLE.map(([, value]) => value)];
/** §4.1: an entry costs its octets plus 32 for the bookkeeping a table needs. */
const ENTRY_OVERHEAD = 32;
/** Larger integers are no length or index a real peer sends; refusing them keeps the arithmetic exact. */
const MAX_INTEGER = 2 ** 31;
/** What `block` holds between decodes, so that the decoder does not keep the last block alive. */
const NO_BLOCK = Buffer.alloc(0);

/**
 * The receiving half of HPACK (RFC 7541) for one connection: every representation of §6, Huffman-coded or
 * plain strings, and the dynamic table the peer's encoder fills. One instance must see every header block of
 * the connection, in order; once `decode` throws, the table is out of step with the peer's and the connection
 * must end with COMPRESSION_ERROR.
 */
export class HpackDecoder {
  /** Limit set by the peer's size updates (§6.3), at first `maxTableSize`. */
  private capacity: number;
  /** Sum of the entries' sizes (§4.1). */
  private size = 0;
  // The dynamic table as a ring of parallel arrays whose length is a power of two: `newest` is the slot of
  // index 62, and older entries sit at descending slots (modulo the length).
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  private newest = 0;
  private count = 0;
  // The block being decoded and the offset of its next unread octet.
  private block: Buffer = NO_BLOCK;
  private at = 0;

  /**
   * `maxTableSize`: the SETTINGS_HEADER_TABLE_SIZE this side advertised (4096 by default): a size update
   * above it is an error. The dynamic table starts at that size. That matches the peer's encoder for HTTP/2's
   * initial 4096; with a smaller value, blocks the peer encodes before it acknowledges the setting may
   * refer to entries evicted here, and fail.
   */
  constructor(private readonly maxTableSize = 4096) {
    this.capacity = maxTableSize;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads already joined) into its fields in
   * order, names as sent (lower case), octets as latin1 strings. Updates the dynamic table. Throws HpackError.
   */
  decode(block: Buffer): Array<[name: string, value: string]> {
    const fields: Array<[name: string, value: string]> = [];
    this.block = block;
    this.at = 0;
    while (this.at < block.length) {
      const first = block[this.at]!;
      if (first >= 0x80) {
        // §6.1 indexed field, the usual case once the table is warm: one octet, no integer loop.
        let index = first & 0x7f;
        if (index < 0x7f) this.at++;
        else index = this.integer(7);
        fields.push(this.entry(index));
      } else if (first >= 0x40) {
        fields.push(this.literal(6, true));
      } else if (first >= 0x20) {
        // §4.2: size updates may only open a block.
        if (fields.length > 0) throw new HpackError('dynamic table size update after a header field');
        this.resize(this.integer(5));
      } else {
        // §6.2.2 without indexing (0000) and §6.2.3 never indexed (0001) decode alike.
        fields.push(this.literal(4, false));
      }
    }
    this.block = NO_BLOCK;
    return fields;
  }

  /** The field at `index` of the static table followed by the dynamic table (§2.3.3). */
  private entry(index: number): [string, string] {
    if (index === 0) throw new HpackError('index 0 refers to no table entry');
    if (index < FIRST_DYNAMIC) return [STATIC_NAMES[index]!, STATIC_VALUES[index]!];
    const age = index - FIRST_DYNAMIC;
    if (age >= this.count) {
      throw new HpackError(`index ${index} is past the ${FIRST_DYNAMIC - 1 + this.count} table entries`);
    }
    const slot = (this.newest - age) & this.mask;
    return [this.names[slot]!, this.values[slot]!];
  }

  /** §6.2: a name (indexed with a `prefix`-bit integer, or literal when that is 0) and a literal value. */
  private literal(prefix: number, indexed: boolean): [string, string] {
    const nameIndex = this.integer(prefix);
    const name = nameIndex === 0 ? this.string() : this.entry(nameIndex)[0];
    const value = this.string();
    if (indexed) this.insert(name, value);
    return [name, value];
  }

  /** §5.1: an integer whose first octet keeps `prefix` low bits for it. */
  private integer(prefix: number): number {
    const block = this.block;
    if (this.at >= block.length) throw new HpackError('header block ends inside a field');
    const max = (1 << prefix) - 1;
    let value = block[this.at++]! & max;
    if (value < max) return value;
    // Five continuation octets carry 35 bits, more than MAX_INTEGER needs; a sixth is refused rather than let
    // zero-valued padding octets run on.
    for (let shift = 0; shift <= 28; shift += 7) {
      if (this.at >= block.length) throw new HpackError('header block ends inside an integer');
      const octet = block[this.at++]!;
      value += (octet & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw new HpackError('integer exceeds 2^31');
      if (octet < 0x80) return value;
    }
    throw new HpackError('integer has too many continuation octets');
  }

  /** §5.2: a length-prefixed string, Huffman-coded when the H bit is set. */
  private string(): string {
    const block = this.block;
    const huffman = this.at < block.length && (block[this.at]! & 0x80) !== 0;
    const length = this.integer(7);
    const start = this.at;
    const end = start + length;
    if (end > block.length) throw new HpackError('string runs past the end of the header block');
    this.at = end;
    return huffman ? huffmanDecode(block.subarray(start, end)) : block.toString('latin1', start, end);
  }

  /** §6.3: a new limit from the peer, no larger than the one advertised; entries over it are evicted. */
  private resize(capacity: number): void {
    if (capacity > this.maxTableSize) {
      throw new HpackError(`dynamic table size update to ${capacity} exceeds ${this.maxTableSize}`);
    }
    this.capacity = capacity;
    this.evictTo(capacity);
  }

  /** §4.4: adds an entry as the newest, evicting the oldest until it fits; one larger than the table empties it. */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.capacity) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - size);
    if (this.count === this.names.length) this.grow();
    this.newest = (this.newest + 1) & this.mask;
    this.names[this.newest] = name;
    this.values[this.newest] = value;
    this.count++;
    this.size += size;
  }

  /** Evicts the oldest entries until the table's size is at most `limit`. */
  private evictTo(limit: number): void {
    while (this.size > limit) {
      const oldest = (this.newest - this.count + 1) & this.mask;
      this.size -= this.names[oldest]!.length + this.values[oldest]!.length + ENTRY_OVERHEAD;
      // Drop the strings so that evicted values can be collected.
      this.names[oldest] = '';
      this.values[oldest] = '';
      this.count--;
    }
  }

  /** Doubles the ring, laying the entries out oldest first from slot 0. */
  private grow(): void {
    const length = this.names.length * 2;
    const names = new Array<string>(length).fill('');
    const values = new Array<string>(length).fill('');
    for (let age = this.count - 1, slot = 0; age >= 0; age--, slot++) {
      names[slot] = this.names[(this.newest - age) & this.mask]!;
      values[slot] = this.values[(this.newest - age) & this.mask]!;
    }
    this.names = names;
    this.values = values;
    this.mask = length - 1;
    this.newest = this.count - 1;
  }
}

/** For each static name, its first index and the indices of its values. */
const STATIC_INDEX = new Map<string, { index: number; values: Map<string, number> }>();
for (let index = STATIC_TABLE.length; index >= 1; index--) {
  // Walking down leaves every name and value at its lowest index.
  const [name, value] = STATIC_TABLE[index - 1]!;
  const known = STATIC_INDEX.get(name) ?? { index, values: new Map<string, number>() };
  known.index = index;
  known.values.set(value, index);
  STATIC_INDEX.set(name, known);
}

/**
 * One header block for `fields` (names must be lower case), using only static-table indices: an indexed field
 * when name and value match a static entry, literal-without-indexing with an indexed name when only the name
 * matches, literal-without-indexing with a literal name otherwise. No Huffman coding, and never an entry in
 * the peer's dynamic table, so blocks can be made in any order and the peer's table size does not matter.
 * Strings are written as latin1, one octet per character (HTTP/2 header values hold no other characters).
 */
export function encodeHeaders(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  // A field takes at most its two strings plus three integers of at most 6 octets each.
  let bound = 0;
  for (const [name, value] of fields) bound += name.length + value.length + 18;
  const out = Buffer.allocUnsafe(bound);
  let at = 0;
  for (const [name, value] of fields) {
    const known = STATIC_INDEX.get(name);
    const exact = known?.values.get(value);
    if (exact !== undefined) {
      out[at++] = 0x80 | exact;
      continue;
    }
    if (known !== undefined) {
      at = writeInteger(out, at, 4, known.index);
    } else {
      out[at++] = 0x00;
      at = writeString(out, at, name);
    }
    at = writeString(out, at, value);
  }
  return out.subarray(0, at);
}

/** §5.1: `value` in an integer whose first octet has `prefix` low bits for it and its high bits zero. */
function writeInteger(out: Buffer, at: number, prefix: number, value: number): number {
  const max = (1 << prefix) - 1;
  if (value < max) {
    out[at++] = value;
    return at;
  }
  out[at++] = max;
  let rest = value - max;
  for (; rest >= 0x80; rest = Math.floor(rest / 0x80)) out[at++] = 0x80 | (rest % 0x80);
  out[at++] = rest;
  return at;
}

/** §5.2: `text` as a length-prefixed latin1 string with the H bit clear. */
function writeString(out: Buffer, at: number, text: string): number {
  let end = writeInteger(out, at, 7, text.length);
  // Header strings are short, and copying code units into octets (the store keeps their low 8 bits, as latin1
  // does) beats a call into Buffer's encoder.
  for (let i = 0; i < text.length; i++) out[end++] = text.charCodeAt(i);
  return end;
}
