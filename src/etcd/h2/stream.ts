import { CANCEL, DATA, END_STREAM, frame, frame32, NO_ERROR, RST_STREAM } from './frames.js';

/** What a stream's owner hears: the server's headers and trailers, its data, and the stream's end. */
export interface StreamEvents {
  /** A header block: the response's headers, or its trailers (`end`: the server's last frame). */
  headers(fields: Array<[string, string]>, end: boolean): void;
  /** Bytes of the response body, in order. */
  data(chunk: Buffer): void;
  /**
   * The stream is over: `code` is 0 after both sides ended it, the RST_STREAM code the server
   * sent (REFUSED_STREAM: it was not processed), or -1 when the connection ended first (`why`).
   */
  closed(code: number, why: string): void;
}

/** The part of a connection a stream writes through. */
export interface StreamOwner {
  /** Bytes the connection may still send before the server opens its window. */
  sendWindow: number;
  readonly maxFrame: number;
  write(bytes: Buffer): void;
  /** The stream is over (its id leaves the open set, a waiting stream may start). */
  release(stream: H2Stream): void;
  /** The stream cannot send until the connection's window opens. */
  blocked(stream: H2Stream): void;
}

/**
 * One HTTP/2 stream of an {@link H2Connection}: its request body, sent as the flow-control
 * windows allow (the stream's and the connection's), and the end of it either way.
 */
export class H2Stream {
  /** Its stream id; 0 until the connection opens it (it may wait for the server's stream limit). */
  id = 0;
  /** Bytes this stream may still send before the server opens its window (set when it opens). */
  sendWindow = 0;
  /** Bytes received since the last WINDOW_UPDATE this stream sent. */
  received = 0;
  #queue: Buffer[] = [];
  #ending = false;
  #localEnded = false;
  #closed = false;

  constructor(
    private readonly owner: StreamOwner,
    readonly events: StreamEvents,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `bytes` as the stream's body (queued while the windows are shut). */
  write(bytes: Buffer): void {
    if (this.#closed || this.#ending || bytes.length === 0) return;
    this.#queue.push(bytes);
    this.flush();
  }

  /** Ends the request side, after `bytes` if given. */
  end(bytes?: Buffer): void {
    if (this.#closed || this.#ending) return;
    if (bytes && bytes.length > 0) this.#queue.push(bytes);
    this.#ending = true;
    this.flush();
  }

  /** Resets the stream with `code` (CANCEL by default) and closes it locally. */
  close(code = CANCEL): void {
    if (this.#closed) return;
    if (this.id !== 0) this.owner.write(frame32(RST_STREAM, this.id, code));
    this.finish(code, 'cancelled on client');
  }

  /** Writes as much of the queued body as both windows allow; called again when they open. */
  flush(): void {
    while (this.id !== 0 && !this.#closed && !this.#localEnded) {
      const next = this.#queue[0];
      if (!next) {
        if (this.#ending) this.#send(undefined, true);
        return;
      }
      // Never empty (write and end skip empty buffers), so a shut window always waits.
      const room = Math.min(this.sendWindow, this.owner.sendWindow, this.owner.maxFrame);
      if (room <= 0) {
        if (this.owner.sendWindow <= 0) this.owner.blocked(this);
        return;
      }
      if (next.length <= room) {
        this.#queue.shift();
        this.#send(next, this.#ending && this.#queue.length === 0);
      } else {
        this.#queue[0] = next.subarray(room);
        this.#send(next.subarray(0, room), false);
      }
    }
  }

  /** The connection wrote this stream's whole `length`-byte body with its HEADERS. */
  sent(length: number): void {
    this.#spend(length, true);
  }

  /**
   * The server ended its side. For gRPC that ends the call whatever this side still had to send
   * (its trailers carry the status), so a stream this side had not ended is reset with NO_ERROR
   * (RFC 9113 §8.1), which frees it on both sides.
   */
  remoteEnd(): void {
    if (this.#closed) return;
    if (!this.#localEnded) this.owner.write(frame32(RST_STREAM, this.id, NO_ERROR));
    this.finish(0, '');
  }

  /** Ends the stream for good and tells its owner (once). */
  finish(code: number, why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.owner.release(this);
    this.events.closed(code, why);
  }

  #send(bytes: Buffer | undefined, end: boolean): void {
    this.owner.write(frame(DATA, end ? END_STREAM : 0, this.id, bytes));
    this.#spend(bytes?.length ?? 0, end);
  }

  /** `length` bytes of body went out of both windows; `end`: the request side is over. */
  #spend(length: number, end: boolean): void {
    this.sendWindow -= length;
    this.owner.sendWindow -= length;
    if (end) this.#localEnded = true;
  }
}
