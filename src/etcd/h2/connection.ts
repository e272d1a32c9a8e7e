import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FrameWriter } from './frame-writer.js';
import * as F from './frames.js';
import { type HeaderBlock, HeaderBlocks } from './header-blocks.js';
import { H2Stream, type StreamEvents, type StreamOwner } from './stream.js';

/** The receive window of each stream and of the connection (4 MiB, as concord's grpc-js channels). */
const LOCAL_WINDOW = 4 * 1024 * 1024;
/** The highest stream id a client may use: after it, a new connection. */
const LAST_STREAM_ID = 2 ** 31 - 1;

/** What a connection's owner hears about it. */
export interface ConnectionEvents {
  /** The server answered the handshake (its first SETTINGS): streams may be written. */
  ready(): void;
  /** The server will take no new streams (GOAWAY); the ones it took go on. */
  goaway(): void;
  /** The connection is gone (`why`); every stream on it has been closed first. */
  ended(why: string): void;
}

/**
 * A client HTTP/2 connection (RFC 9113) over a socket, as much of it as gRPC to etcd needs:
 * streams with flow control both ways, the server's settings, pings, GOAWAY and resets, and HPACK
 * through {@link HeaderBlocks}. Unlike `node:http2`, which writes a request in the event loop's
 * next check phase, it writes what one turn of the event loop wrote (a callback and the promise
 * jobs after it) in one socket write as soon as those jobs have run ({@link FrameWriter}): after an
 * idle pause that saves about a third of a loopback round trip.
 */
export class H2Connection implements StreamOwner {
  sendWindow = F.DEFAULT_WINDOW;
  maxFrame = F.DEFAULT_MAX_FRAME;
  /** Whether the server answered the handshake. */
  ready = false;
  readonly #streams = new Map<number, H2Stream>();
  /** Streams waiting for the server to allow one more (SETTINGS_MAX_CONCURRENT_STREAMS), in order. */
  readonly #waiting: Array<readonly [stream: H2Stream, block: Buffer, body: Buffer | undefined]> = [];
  readonly #blocked = new Set<H2Stream>();
  readonly #reader = new F.FrameReader();
  readonly #headerBlocks = new HeaderBlocks();
  #nextId = 1;
  #peerWindow = F.DEFAULT_WINDOW;
  #peerMaxStreams = Number.POSITIVE_INFINITY;
  #received = 0;
  #draining = false;
  #ended = false;
  readonly #out: FrameWriter;

  constructor(
    private readonly socket: Socket,
    private readonly events: ConnectionEvents,
  ) {
    this.#out = new FrameWriter(socket);
    socket.write(
      Buffer.concat([
        F.PREFACE,
        F.clientSettings(LOCAL_WINDOW),
        F.frame32(F.WINDOW_UPDATE, 0, LOCAL_WINDOW - F.DEFAULT_WINDOW),
      ]),
    );
    socket.on('data', (chunk: Buffer) => {
      const bad = this.#reader.push(chunk, (f) => {
        const fault = this.#ended ? undefined : this.#frame(f);
        if (fault) this.#fail(fault);
      });
      if (bad) this.#fail([F.FRAME_SIZE_ERROR, bad]);
    });
    socket.on('error', (err) => this.#end(err.message));
    socket.on('close', () => this.#end('the connection closed'));
    socket.once('secureConnect', () => {
      // Without h2 agreed by ALPN the server would read the preface as something else.
      const agreed = (socket as TLSSocket).alpnProtocol === 'h2';
      if (!agreed) this.#end('the server did not agree to HTTP/2 (ALPN h2)');
    });
  }

  /** Whether a new stream may be opened on this connection. */
  get usable(): boolean {
    return !this.#ended && !this.#draining && this.#nextId <= LAST_STREAM_ID;
  }

  /** Whether the connection is over (failed, closed, or drained after {@link close}). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Opens a stream with the header block `block` (see `encodeHeaders`) and, with `body`, ends it
   * with that body: a request that fits the windows and one frame is a single socket write.
   * Throws when the connection is not {@link usable}.
   */
  request(block: Buffer, events: StreamEvents, body?: Buffer): H2Stream {
    if (!this.usable) throw new Error('the connection takes no new streams');
    const stream = new H2Stream(this, events);
    if (this.#streams.size >= this.#peerMaxStreams) this.#waiting.push([stream, block, body]);
    else this.#open(stream, block, body);
    return stream;
  }

  /** Takes no new streams and ends the connection once the open ones are over. */
  close(): void {
    this.#draining = true;
    this.#refuseWaiting('the connection was closed');
    if (this.#streams.size === 0) this.#end('the connection was closed');
  }

  /** Ends the connection and every stream on it now. */
  destroy(why = 'the connection was closed'): void {
    this.#end(why);
  }

  /** The socket holds the process open (while a call or stream is open). */
  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  /** Sends `bytes` (whole frames) in order, with whatever else this turn writes (see {@link FrameWriter}). */
  write(bytes: Buffer): void {
    if (!this.#ended) this.#out.write(bytes);
  }

  release(stream: H2Stream): void {
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    this.#startWaiting();
    if (this.#draining && this.#streams.size === 0) this.#end('the connection was closed');
  }

  blocked(stream: H2Stream): void {
    this.#blocked.add(stream);
  }

  /** Ends the streams still waiting for their turn as refused: nothing of them was written. */
  #refuseWaiting(why: string): void {
    for (const [stream] of this.#waiting.splice(0)) stream.finish(F.REFUSED_STREAM, why);
  }

  #startWaiting(): void {
    while (this.#waiting.length > 0 && this.#streams.size < this.#peerMaxStreams) {
      const [stream, block, body] = this.#waiting.shift()!;
      if (!stream.closed) this.#open(stream, block, body);
    }
  }

  #open(stream: H2Stream, block: Buffer, body: Buffer | undefined): void {
    const id = this.#nextId;
    this.#nextId += 2;
    stream.id = id;
    // The window of now (a stream may have waited for its turn while the settings changed).
    stream.sendWindow = this.#peerWindow;
    this.#streams.set(id, stream);
    if (this.#nextId > LAST_STREAM_ID) this.#draining = true;
    const room = Math.min(this.maxFrame, this.sendWindow, stream.sendWindow);
    if (body === undefined || block.length > this.maxFrame || body.length > room) {
      // A header block beyond the largest frame the server takes goes on in CONTINUATION frames.
      for (let at = 0; at < block.length || at === 0; at += this.maxFrame) {
        const last = at + this.maxFrame >= block.length;
        const piece = block.subarray(at, at + this.maxFrame);
        this.write(F.frame(at === 0 ? F.HEADERS : F.CONTINUATION, last ? F.END_HEADERS : 0, id, piece));
      }
      // Whatever was written to a stream while it waited for its turn goes now.
      if (body) stream.end(body);
      else stream.flush();
      return;
    }
    // HEADERS and the whole body with END_STREAM, in one buffer and one write.
    const out = Buffer.allocUnsafe(18 + block.length + body.length);
    F.putHeader(out, 0, block.length, F.HEADERS, F.END_HEADERS, id);
    block.copy(out, 9);
    F.putHeader(out, 9 + block.length, body.length, F.DATA, F.END_STREAM, id);
    body.copy(out, 18 + block.length);
    stream.sent(body.length);
    this.write(out);
  }

  #frame(f: F.Frame): F.Fault | undefined {
    if (this.#headerBlocks.interrupts(f)) return [F.PROTOCOL_ERROR, 'a header block was interrupted'];
    switch (f.type) {
      case F.DATA:
        return this.#data(f);
      case F.HEADERS:
        return this.#deliver(this.#headerBlocks.headers(f));
      case F.CONTINUATION:
        return this.#deliver(this.#headerBlocks.continuation(f));
      case F.RST_STREAM:
        return this.#reset(f);
      case F.SETTINGS:
        return this.#settings(f);
      case F.PUSH_PROMISE:
        return [F.PROTOCOL_ERROR, 'the server pushed a stream (push is off)'];
      case F.PING:
        if (!(f.flags & F.ACK) && f.payload.length === 8) this.#out.answerPing(f.payload);
        return undefined;
      case F.GOAWAY:
        return this.#goaway(f);
      case F.WINDOW_UPDATE:
        return this.#windowUpdate(f);
      default:
        return undefined;
    }
  }

  #data(f: F.Frame): F.Fault | undefined {
    const content = F.unpadded(f, 0);
    if (f.stream === 0 || !content) return [F.PROTOCOL_ERROR, 'a malformed DATA frame'];
    // Flow control counts the whole payload, padding too, whether the stream is open or not.
    const length = f.payload.length;
    this.#received += length;
    if (this.#received >= LOCAL_WINDOW / 2) {
      this.write(F.frame32(F.WINDOW_UPDATE, 0, this.#received));
      this.#received = 0;
    }
    const stream = this.#streams.get(f.stream);
    if (!stream) return undefined;
    const end = (f.flags & F.END_STREAM) !== 0;
    stream.received += length;
    if (stream.received >= LOCAL_WINDOW / 2 && !end) {
      this.write(F.frame32(F.WINDOW_UPDATE, stream.id, stream.received));
      stream.received = 0;
    }
    if (content.length > 0) stream.events.data(content);
    if (end) stream.remoteEnd();
    return undefined;
  }

  /** Hands a whole header block to its stream (if still open). */
  #deliver(got: HeaderBlock | F.Fault | undefined): F.Fault | undefined {
    if (got === undefined || Array.isArray(got)) return got as F.Fault | undefined;
    const { stream: id, fields, end } = got as HeaderBlock;
    const stream = this.#streams.get(id);
    stream?.events.headers(fields, end);
    if (end) stream?.remoteEnd();
    return undefined;
  }

  #reset(f: F.Frame): F.Fault | undefined {
    if (f.payload.length !== 4) return [F.FRAME_SIZE_ERROR, 'an RST_STREAM frame of the wrong size'];
    const stream = this.#streams.get(f.stream);
    const code = f.payload.readUInt32BE(0);
    stream?.finish(code, `the server reset the stream (HTTP/2 error ${code})`);
    return undefined;
  }

  #settings(f: F.Frame): F.Fault | undefined {
    if (f.flags & F.ACK) return undefined;
    const settings = F.settingsOf(f.payload);
    if (Array.isArray(settings)) return settings as F.Fault;
    const { initialWindow, maxFrame, maxStreams } = settings as F.PeerSettings;
    if (initialWindow !== undefined) {
      // A new initial window changes every open stream's window by the difference (§6.9.2).
      const delta = initialWindow - this.#peerWindow;
      this.#peerWindow = initialWindow;
      for (const stream of this.#streams.values()) stream.sendWindow += delta;
    }
    this.maxFrame = maxFrame ?? this.maxFrame;
    this.#peerMaxStreams = maxStreams ?? this.#peerMaxStreams;
    this.write(F.frame(F.SETTINGS, F.ACK, 0));
    for (const stream of [...this.#streams.values()]) stream.flush();
    this.#startWaiting();
    if (!this.ready) {
      this.ready = true;
      this.events.ready();
    }
    return undefined;
  }

  #goaway(f: F.Frame): F.Fault | undefined {
    if (f.payload.length < 8) return [F.FRAME_SIZE_ERROR, 'a GOAWAY frame too short'];
    const last = f.payload.readUInt32BE(0) & 0x7fffffff;
    this.#draining = true;
    this.events.goaway();
    // Streams after the last one the server took were not processed: they may go elsewhere (all
    // taken out first, so a callback that ends the connection meanwhile does not fail them).
    const why = 'the server is going away (GOAWAY) and did not process the stream';
    const refused = [...this.#streams.values()].filter((stream) => stream.id > last);
    for (const stream of refused) this.#streams.delete(stream.id);
    this.#refuseWaiting(why);
    for (const stream of refused) stream.finish(F.REFUSED_STREAM, why);
    if (this.#streams.size === 0) this.#end('the server closed the connection (GOAWAY)');
    return undefined;
  }

  #windowUpdate(f: F.Frame): F.Fault | undefined {
    if (f.payload.length !== 4) return [F.FRAME_SIZE_ERROR, 'a WINDOW_UPDATE frame of the wrong size'];
    const increment = f.payload.readUInt32BE(0) & 0x7fffffff;
    if (f.stream !== 0) {
      const stream = this.#streams.get(f.stream);
      if (increment === 0) stream?.close(F.PROTOCOL_ERROR);
      else if (stream) {
        stream.sendWindow += increment;
        stream.flush();
      }
      return undefined;
    }
    if (increment === 0) return [F.PROTOCOL_ERROR, 'a window update of 0'];
    this.sendWindow += increment;
    if (this.sendWindow > F.MAX_WINDOW) return [F.FLOW_CONTROL_ERROR, 'a window over 2^31-1'];
    const blocked = [...this.#blocked];
    this.#blocked.clear();
    for (const stream of blocked) stream.flush();
    return undefined;
  }

  /** A connection error: tells the server why (GOAWAY) and ends the connection. */
  #fail([code, why]: F.Fault): void {
    this.write(F.goaway(code));
    this.#out.flush();
    this.#end(`HTTP/2 connection error: ${why}`);
  }

  #end(why: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#out.stop();
    this.#refuseWaiting(why);
    for (const stream of [...this.#streams.values()]) stream.finish(-1, why);
    this.socket.destroy();
    this.events.ended(why);
  }
}
