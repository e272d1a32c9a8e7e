/** HTTP/2 frame types (RFC 9113 §6) this client writes or reads. */
export const DATA = 0x0;
export const HEADERS = 0x1;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

/** Frame flags: END_STREAM (DATA, HEADERS) and ACK (SETTINGS, PING) share a bit. */
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY = 0x20;

/** Error codes (RFC 9113 §7). */
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const FLOW_CONTROL_ERROR = 0x3;
export const FRAME_SIZE_ERROR = 0x6;
export const REFUSED_STREAM = 0x7;
export const CANCEL = 0x8;
export const COMPRESSION_ERROR = 0x9;

/** SETTINGS identifiers. */
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** The largest frame payload either side may send until told otherwise, and all this client accepts. */
export const DEFAULT_MAX_FRAME = 16_384;
/** The window every stream and the connection start with (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65_535;
/** The largest window flow control allows. */
export const MAX_WINDOW = 2 ** 31 - 1;

/** Writes a frame header for a `length`-byte payload into `into` at `at`. */
export function putHeader(
  into: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  stream: number,
): void {
  into[at] = length >>> 16;
  into[at + 1] = (length >>> 8) & 0xff;
  into[at + 2] = length & 0xff;
  into[at + 3] = type;
  into[at + 4] = flags;
  into.writeUInt32BE(stream, at + 5);
}

/** One frame with `payload` (a single buffer: one write). */
export function frame(type: number, flags: number, stream: number, payload?: Buffer): Buffer {
  const length = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(9 + length);
  putHeader(out, 0, length, type, flags, stream);
  payload?.copy(out, 9);
  return out;
}

/** A frame with one 32-bit field as its payload (WINDOW_UPDATE, RST_STREAM). */
export function frame32(type: number, stream: number, value: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  putHeader(out, 0, 4, type, 0, stream);
  out.writeUInt32BE(value, 9);
  return out;
}

/** A frame as read: its type, flags, stream and payload (a view of the bytes received). */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/**
 * Cuts the bytes a connection receives into frames as they arrive: a chunk may end inside a frame
 * or hold many. Returns an error text for a frame longer than this client allows.
 */
export class FrameReader {
  #rest: Buffer | undefined;

  push(chunk: Buffer, each: (frame: Frame) => void): string | undefined {
    const data = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    let at = 0;
    while (data.length - at >= 9) {
      const length = (data[at]! << 16) | (data[at + 1]! << 8) | data[at + 2]!;
      if (length > DEFAULT_MAX_FRAME) return `a frame of ${length} bytes (at most ${DEFAULT_MAX_FRAME})`;
      if (data.length - at < 9 + length) break;
      const type = data[at + 3]!;
      const flags = data[at + 4]!;
      const stream = data.readUInt32BE(at + 5) & 0x7fffffff;
      const payload = data.subarray(at + 9, at + 9 + length);
      at += 9 + length;
      // The unread rest is kept before the frame is handled: a handler that throws leaves the
      // reader at the next frame's start, not inside it.
      this.#rest = at < data.length ? data.subarray(at) : undefined;
      each({ type, flags, stream, payload });
    }
    this.#rest = at < data.length ? data.subarray(at) : undefined;
    return undefined;
  }
}

/** A connection error found in a frame: the code to end the connection with, and why. */
export type Fault = readonly [code: number, why: string];

/** The payload of a DATA or HEADERS frame without its padding and its first `skip` bytes (priority fields). */
export function unpadded(f: Frame, skip: number): Buffer | undefined {
  if (!(f.flags & PADDED)) return skip <= f.payload.length ? f.payload.subarray(skip) : undefined;
  const pad = f.payload[0] ?? 0;
  if (1 + skip + pad > f.payload.length) return undefined;
  return f.payload.subarray(1 + skip, f.payload.length - pad);
}

/** The server's settings this client uses (absent: unchanged). */
export interface PeerSettings {
  initialWindow?: number;
  maxFrame?: number;
  maxStreams?: number;
}

/** Reads a SETTINGS payload (RFC 9113 §6.5.2); a {@link Fault} when it breaks the rules. */
export function settingsOf(payload: Buffer): PeerSettings | Fault {
  if (payload.length % 6 !== 0) return [FRAME_SIZE_ERROR, 'a SETTINGS frame of the wrong size'];
  const settings: PeerSettings = {};
  for (let at = 0; at < payload.length; at += 6) {
    const id = payload.readUInt16BE(at);
    const value = payload.readUInt32BE(at + 2);
    if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
      if (value > MAX_WINDOW) return [FLOW_CONTROL_ERROR, 'an initial window over 2^31-1'];
      settings.initialWindow = value;
    } else if (id === SETTINGS_MAX_FRAME_SIZE) {
      if (value < DEFAULT_MAX_FRAME || value > 16_777_215) return [PROTOCOL_ERROR, 'a bad frame size'];
      settings.maxFrame = value;
    } else if (id === SETTINGS_MAX_CONCURRENT_STREAMS) settings.maxStreams = value;
  }
  return settings;
}

/** The SETTINGS this client opens with: no push, and `window` for each stream. */
export function clientSettings(window: number): Buffer {
  const payload = Buffer.allocUnsafe(12);
  payload.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0);
  payload.writeUInt32BE(0, 2);
  payload.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6);
  payload.writeUInt32BE(window, 8);
  return frame(SETTINGS, 0, 0, payload);
}

/** A GOAWAY frame with `code`, naming no stream of the server's as processed (it opens none). */
export function goaway(code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(code, 4);
  return frame(GOAWAY, 0, 0, payload);
}
