import { EventEmitter } from 'node:events';
import {
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { framed, INTERNAL, MessageReader, type Status, statusError, statusOf } from './grpc-wire.js';
import { type H2Channel, streamFailure } from './h2-channel.js';
import type { BidiStream } from './reconnecting-stream.js';

const CANCELLED = 1;

/**
 * A gRPC bidirectional stream on an {@link H2Channel}'s session, with the events and operations of
 * a grpc-js client duplex stream as concord uses them: `data` per response message, `error` once
 * with a grpc-js-shaped status error when it fails or is cancelled, `end` when the server ends it
 * with status OK. Requests written before the server answered the connection are sent once it
 * does. Because it shares the session of the channel's unary calls, a call made after a write
 * reaches the server after that write (the release after the cancel of the holder's own watch).
 */
export class H2Bidi<Req, Res> extends EventEmitter implements BidiStream<Req, Res> {
  #stream: ClientHttp2Stream | undefined;
  readonly #queued: Buffer[] = [];
  #ended = false;
  #finished = false;
  readonly #giveUp: () => void;

  constructor(
    channel: H2Channel,
    path: string,
    headers: OutgoingHttpHeaders,
    private readonly serialize: (request: Req) => Buffer,
    private readonly deserialize: (bytes: Buffer) => Res,
  ) {
    super();
    this.#giveUp = channel.stream(
      path,
      headers,
      (stream) => this.#started(stream),
      (status) => this.#fail(status),
    );
  }

  /** False once `end()` was called (as a grpc-js stream's): a failure before that is the host's. */
  get writable(): boolean {
    return !this.#ended;
  }

  write(request: Req): void {
    if (this.#ended || this.#finished) return;
    const frame = framed(this.serialize(request));
    if (this.#stream) this.#stream.write(frame);
    else this.#queued.push(frame);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stream?.end();
  }

  cancel(): void {
    if (this.#stream) this.#stream.close(constants.NGHTTP2_CANCEL);
    else this.#giveUp();
    this.#fail({ code: CANCELLED, details: 'Cancelled on client' });
  }

  #started(stream: ClientHttp2Stream): void {
    this.#stream = stream;
    for (const frame of this.#queued.splice(0)) stream.write(frame);
    if (this.#ended) stream.end();
    const reader = new MessageReader();
    let status: Status | undefined;
    const take = (headers: IncomingHttpHeaders) => {
      status ??= statusOf(headers);
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', (chunk: Buffer) => {
      const bad = reader.push(chunk, (bytes) => this.#message(bytes));
      if (bad) this.#abort(bad);
    });
    stream.on('error', (err) => this.#fail(streamFailure(stream, err.message)));
    stream.on('close', () => {
      if (status === undefined) {
        this.#fail(streamFailure(stream, `stream closed without a status (code ${stream.rstCode})`));
      } else if (status.code !== 0) this.#fail(status);
      else if (reader.partial) this.#fail({ code: INTERNAL, details: 'the stream ended inside a message' });
      else if (!this.#finished) {
        this.#finished = true;
        this.emit('end');
      }
    });
  }

  #message(bytes: Buffer): void {
    if (this.#finished) return;
    let response: Res;
    try {
      response = this.deserialize(bytes);
    } catch (err) {
      this.#abort(`could not decode a response: ${String(err)}`);
      return;
    }
    this.emit('data', response);
  }

  /** Ends a stream whose responses cannot be read. */
  #abort(why: string): void {
    this.#stream?.close(constants.NGHTTP2_CANCEL);
    this.#fail({ code: INTERNAL, details: why });
  }

  #fail(status: Status): void {
    if (this.#finished) return;
    this.#finished = true;
    const err = statusError(status.code, status.details, undefined);
    if (this.listenerCount('error') > 0) {
      this.emit('error', err);
      return;
    }
    // Failed before its opener listened (no connection at all): it learns of it once the promise
    // that hands the stream over has settled. An error nobody listens for even then is dropped.
    setImmediate(() => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }
}
