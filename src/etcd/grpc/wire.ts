/** gRPC status names by code, as grpc-js spells them in its error messages. */
const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

export const UNAVAILABLE = 14;
export const INTERNAL = 13;

/** A gRPC status: its numeric code and its (decoded) message. */
export interface Status {
  code: number;
  details: string;
}

/**
 * A failed call, shaped like the error grpc-js hands a unary callback (message
 * `<code> <NAME>: <details>`, numeric `code`, `details`, `metadata`), so etcd3's error casting and
 * concord's translation treat both transports alike.
 */
export interface StatusError extends Error {
  code: number;
  details: string;
  metadata: unknown;
}

/** Makes a {@link StatusError}; `metadata` is the (empty) trailing metadata grpc-js would attach. */
export function statusError(code: number, details: string, metadata: unknown): StatusError {
  const name = STATUS_NAMES[code] ?? 'UNKNOWN';
  return Object.assign(new Error(`${code} ${name}: ${details}`), { code, details, metadata });
}

/** `message` as a gRPC length-prefixed message (uncompressed). */
export function framed(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** A header block as received: its fields in order, names in lower case. */
export type HeaderFields = ReadonlyArray<readonly [name: string, value: string]>;

/**
 * The status a response's headers (or trailers) carry: `grpc-status` and `grpc-message`, or, for
 * a response that is not gRPC at all (a proxy's error page), one made from its HTTP status.
 * Undefined when they carry none.
 */
export function statusOf(fields: HeaderFields): Status | undefined {
  let code: string | undefined;
  let message = '';
  let httpStatus = '200';
  for (const [name, value] of fields) {
    if (name === 'grpc-status') code = value;
    else if (name === 'grpc-message') message = value;
    else if (name === ':status') httpStatus = value;
  }
  if (code === undefined) {
    if (httpStatus === '200') return undefined;
    return {
      code: httpStatus === '503' || httpStatus === '502' ? UNAVAILABLE : 2,
      details: `HTTP ${httpStatus}`,
    };
  }
  return { code: Number(code), details: message === '' ? '' : decodeMessage(message) };
}

/** `grpc-message` is percent-encoded (gRPC over HTTP/2); a malformed one is shown as sent. */
function decodeMessage(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Splits a gRPC response body into its messages as its chunks arrive: a chunk may end inside a
 * message or hold several. Only uncompressed messages are accepted (concord asks for no
 * compression, so a compressed one means the peer is not speaking to us as we asked).
 */
export class MessageReader {
  /** Bytes received but not yet handed out, and how many of them make the next message. */
  #chunks: Buffer[] = [];
  #length = 0;
  #need = 5;

  /** Takes `chunk` and hands each message completed by it to `message`; returns an error text for a compressed one. */
  push(chunk: Buffer, message: (bytes: Buffer) => void): string | undefined {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    // A large message arrives in many chunks: they are joined once, when it is complete.
    if (this.#length < this.#need) return undefined;
    let data = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#length);
    this.#chunks = [];
    this.#length = 0;
    this.#need = 5;
    while (data.length >= 5) {
      if (data[0] !== 0) return 'the response carries a compressed message';
      const end = 5 + data.readUInt32BE(1);
      if (data.length < end) {
        this.#need = end;
        break;
      }
      message(data.subarray(5, end));
      data = data.subarray(end);
    }
    if (data.length > 0) {
      this.#chunks.push(data);
      this.#length = data.length;
    }
    return undefined;
  }

  /** Whether a message was cut off (bytes left over that make no whole message). */
  get partial(): boolean {
    return this.#length > 0;
  }
}
