import * as F from './frames.js';
import { HpackDecoder, HpackError } from './hpack.js';

/** A whole header block, decoded: the stream it is for, its fields, and whether it ends the stream. */
export interface HeaderBlock {
  readonly stream: number;
  readonly fields: Array<[string, string]>;
  readonly end: boolean;
}

/**
 * The header blocks one connection receives: a HEADERS frame and the CONTINUATION frames after it
 * make one block (RFC 9113 §4.3), which is decoded once whole, always, even for a stream nobody
 * listens to any more (a block may change the decoder's dynamic table).
 */
export class HeaderBlocks {
  readonly #decoder = new HpackDecoder();
  #pending: { stream: number; end: boolean; chunks: Buffer[] } | undefined;

  /** Whether `f` breaks off a block in progress (only that block's CONTINUATION frames may come between). */
  interrupts(f: F.Frame): boolean {
    return this.#pending !== undefined && (f.type !== F.CONTINUATION || f.stream !== this.#pending.stream);
  }

  /** A HEADERS frame: its block once whole (undefined while CONTINUATION frames are due), or a fault. */
  headers(f: F.Frame): HeaderBlock | F.Fault | undefined {
    const block = F.unpadded(f, f.flags & F.PRIORITY ? 5 : 0);
    if (!block || f.stream === 0) return [F.PROTOCOL_ERROR, 'a malformed HEADERS frame'];
    const end = (f.flags & F.END_STREAM) !== 0;
    if (f.flags & F.END_HEADERS) return this.#decode(f.stream, block, end);
    this.#pending = { stream: f.stream, end, chunks: [block] };
    return undefined;
  }

  /** A CONTINUATION frame: the block once whole, or a fault. */
  continuation(f: F.Frame): HeaderBlock | F.Fault | undefined {
    const pending = this.#pending;
    if (!pending) return [F.PROTOCOL_ERROR, 'CONTINUATION without HEADERS'];
    pending.chunks.push(f.payload);
    if (!(f.flags & F.END_HEADERS)) return undefined;
    this.#pending = undefined;
    return this.#decode(pending.stream, Buffer.concat(pending.chunks), pending.end);
  }

  #decode(stream: number, block: Buffer, end: boolean): HeaderBlock | F.Fault {
    try {
      return { stream, fields: this.#decoder.decode(block), end };
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      return [F.COMPRESSION_ERROR, `a header block could not be decoded: ${err.message}`];
    }
  }
}
