import { EventEmitter } from 'node:events';
import { CANCEL } from '../h2/frames.js';
import type { H2Stream } from '../h2/stream.js';
import type { BidiStream } from '../reconnecting-stream.js';
import { type H2Channel, type Metadata, streamFailure } from './channel.js';
import { framed, INTERNAL, MessageReader, type Status, statusError, statusOf } from './wire.js';

const CANCELLED = 1;

/**
 * A gRPC bidirectional stream on an {@link H2Channel}'s connection, with the events and operations of
 * a grpc-js client duplex stream as concord uses them: `data` per response message, `error` once
 * with a grpc-js-shaped status error when it fails or is cancelled, `end` when the server ends it
 * with status OK. Requests written before the server answered the connection are sent once it
 * does. Because it shares the connection of the channel's unary calls, a call made after a write
 * reaches the server after that write (the release after the cancel of the holder's own watch).
 */
export class H2Bidi<Req, Res> extends EventEmitter implements BidiStream<Req, Res> {
  #stream: H2Stream | undefined;
  readonly #reader = new MessageReader();
  #status: Status | undefined;
  readonly #queued: Buffer[] = [];
  #ended = false;
  #finished = false;
  readonly #giveUp: () => void;

  constructor(
    channel: H2Channel,
    path: string,
    metadata: Metadata,
    private readonly serialize: (request: Req) => Buffer,
    private readonly deserialize: (bytes: Buffer) => Res,
  ) {
    super();
    this.#giveUp = channel.stream(
      path,
      metadata,
      {
        headers: (fields) => {
          this.#status ??= statusOf(fields);
        },
        data: (chunk) => {
          const bad = this.#reader.push(chunk, (bytes) => this.#message(bytes));
          if (bad) this.#abort(bad);
        },
        closed: (code, why) => this.#closed(code, why),
      },
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
    // Failed first: the reset ends the stream at once, which would otherwise say why.
    this.#fail({ code: CANCELLED, details: 'Cancelled on client' });
    if (this.#stream) this.#stream.close(CANCEL);
    else this.#giveUp();
  }

  #started(stream: H2Stream): void {
    this.#stream = stream;
    for (const frame of this.#queued.splice(0)) stream.write(frame);
    if (this.#ended) stream.end();
  }

  #closed(code: number, why: string): void {
    const status = this.#status;
    if (status === undefined) {
      this.#fail(streamFailure(code, code === -1 ? why : `stream closed without a status (code ${code})`));
    } else if (status.code !== 0) this.#fail(status);
    else if (this.#reader.partial)
      this.#fail({ code: INTERNAL, details: 'the stream ended inside a message' });
    else if (!this.#finished) {
      this.#finished = true;
      this.emit('end');
    }
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
    this.#fail({ code: INTERNAL, details: why });
    this.#stream?.close(CANCEL);
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
