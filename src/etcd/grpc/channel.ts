import { errorText } from '../../core/error-text.js';
import { H2Connection } from '../h2/connection.js';
import { CANCEL, REFUSED_STREAM } from '../h2/frames.js';
import { encodeHeaders } from '../h2/hpack.js';
import { type ChannelTls, openSocket } from '../h2/socket.js';
import type { H2Stream, StreamEvents } from '../h2/stream.js';
import { framed, type HeaderFields, INTERNAL, type Status, statusOf, UNAVAILABLE } from './wire.js';

/** Calls waiting for their connection's handshake, by connection. */
const waitingOn = new WeakMap<H2Connection, Waiter[]>();
const DEADLINE_EXCEEDED = 4;

/** A call waiting for its connection's handshake: written once it is answered, failed if it never is. */
interface Waiter {
  send(): void;
  fail(why: string): void;
}

/**
 * The status of a call that was never written to any connection, in grpc-js's words for it, which
 * mark a call that may be sent again without risk of applying it twice (see txn-once.ts).
 */
function notSent(why: string): { code: number; details: string } {
  return { code: UNAVAILABLE, details: `No connection established (${why})` };
}

/** What one call ends with: the response message's bytes, or the status it failed with. */
export type CallDone = (err: { code: number; details: string } | null, message?: Buffer) => void;

/** Request metadata (etcd3's auth token): header names in lower case, a list for a repeated one. */
export type Metadata = Readonly<Record<string, string | number | readonly string[] | undefined>>;

/**
 * gRPC unary calls (and streams, see {@link H2Channel.stream}) to one etcd endpoint over one
 * HTTP/2 connection of concord's own ({@link H2Connection}). etcd's unary RPCs are a request
 * message in, a response message and a status out: this is all a unary call needs, at a fraction
 * of the CPU of a grpc-js call (which runs every call through its resolver, load-balancing, retry
 * and filter stack), and a call is on the socket once the promise jobs of the turn that made it
 * have run (with whatever else that turn wrote, in one write). Calls and
 * streams of one channel share its connection, so the server reads them in the order they were
 * written. The connection opens on the first call, reopens after it closed or failed, and holds
 * the process open only while a call or stream is open (as grpc-js channels do).
 */
export class H2Channel {
  #connection: H2Connection | undefined;
  #active = 0;
  #closed = false;
  /** The encoded fields every request to a path starts with, by path. */
  readonly #prefixes = new Map<string, Buffer>();

  constructor(
    /** `host:port` (an IPv6 host in brackets). */
    readonly authority: string,
    readonly tls: ChannelTls | undefined,
  ) {}

  /**
   * Sends one framed request message to `path` with `metadata` (auth) and, with `deadline` (ms
   * since the epoch), a `grpc-timeout` and a local timer that cancels the call once it passes.
   * `done` runs exactly once. Returns a function that cancels the call.
   */
  call(
    path: string,
    message: Buffer,
    metadata: Metadata,
    deadline: number | undefined,
    done: CallDone,
  ): () => void {
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    let stream: H2Stream | undefined;
    const finish = (err: { code: number; details: string } | null, bytes?: Buffer) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      this.#ended();
      done(err, bytes);
    };
    this.#active++;
    const connection = this.#request(
      path,
      metadata,
      deadline,
      () => !finished,
      (open) => {
        stream = open(unaryResponse(finish), framed(message));
      },
      (why) => finish(notSent(why)),
    );
    // Timers take at most 2^31 - 1 ms; a longer deadline is left to etcd's own (grpc-timeout).
    if (connection && !finished && deadline !== undefined && deadline - Date.now() <= 2_147_483_647) {
      timer = setTimeout(
        () => {
          if (stream) {
            // Finished first: the reset ends the stream at once, which would otherwise say why. A
            // stream still waiting for the server to allow one more (id 0) was never written.
            finish(
              stream.id === 0
                ? notSent('the server allowed no further stream by the deadline')
                : { code: DEADLINE_EXCEEDED, details: 'Deadline exceeded' },
            );
            stream.close(CANCEL);
            return;
          }
          finish(notSent('the server had not answered the connection by the deadline'));
          // A server that has not answered the handshake by now will not serve this connection
          // (after finish: a reset fails the calls still waiting, with its own reason).
          if (this.#connection === connection) this.reset();
        },
        Math.max(1, Math.ceil(deadline - Date.now())),
      );
    }
    return () => {
      finish({ code: 1, details: 'Cancelled on client' });
      stream?.close(CANCEL);
    };
  }

  /**
   * Opens a gRPC stream to `path` with `metadata` (auth) on the same connection as the unary
   * calls, once the server answered its handshake: `events` hears it and `started` gets it (the
   * connection holds the process open until it closes), or `failed` gets why it was never written
   * (so it may go to another member). Returns a function that gives up on a stream not yet started.
   */
  stream(
    path: string,
    metadata: Metadata,
    events: StreamEvents,
    started: (stream: H2Stream) => void,
    failed: (status: Status) => void,
  ): () => void {
    let settled = false;
    const fail = (status: Status) => {
      if (settled) return;
      settled = true;
      this.#ended();
      failed(status);
    };
    this.#active++;
    this.#request(
      path,
      metadata,
      undefined,
      () => !settled,
      (open) => {
        settled = true;
        started(
          open({
            headers: (fields, end) => events.headers(fields, end),
            data: (chunk) => events.data(chunk),
            closed: (code, why) => {
              this.#ended();
              events.closed(code, why);
            },
          }),
        );
      },
      (why) => fail(notSent(why)),
    );
    return () => fail({ code: 1, details: 'Cancelled on client' });
  }

  /**
   * Once the connection's server answered the handshake, and if `pending()` still holds, hands
   * `opened` a function that makes the stream (with its events, and a body that ends it), or
   * tells `unsent` why none can be made (nothing was written). The connection holds the process
   * open until {@link #ended}. Returns it; undefined when there is none.
   */
  #request(
    path: string,
    metadata: Metadata,
    deadline: number | undefined,
    pending: () => boolean,
    opened: (open: (events: StreamEvents, body?: Buffer) => H2Stream) => void,
    unsent: (why: string) => void,
  ): H2Connection | undefined {
    let connection: H2Connection;
    try {
      connection = this.#open();
    } catch (err) {
      unsent(errorText(err));
      return undefined;
    }
    connection.ref();
    const send = () => {
      if (!pending()) return;
      if (!connection.usable) {
        // The connection was closing (reset, or a GOAWAY arrived) before this was written.
        unsent('the connection takes no new streams');
        return;
      }
      const block = this.#headerBlock(path, metadata, deadline);
      opened((events, body) => connection.request(block, events, body));
    };
    if (connection.ready) send();
    else waitingOn.get(connection)?.push({ send, fail: unsent });
    return connection;
  }

  /** The HPACK block of a request to `path`: its fixed fields (encoded once per path), then the rest. */
  #headerBlock(path: string, metadata: Metadata, deadline: number | undefined): Buffer {
    let prefix = this.#prefixes.get(path);
    if (!prefix) {
      prefix = encodeHeaders([
        [':method', 'POST'],
        [':scheme', this.tls ? 'https' : 'http'],
        [':path', path],
        [':authority', this.authority],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
      ]);
      this.#prefixes.set(path, prefix);
    }
    const rest = restFields(metadata, deadline);
    return rest.length === 0 ? prefix : Buffer.concat([prefix, encodeHeaders(rest)]);
  }

  /** A call or stream is over: with none left, the connection no longer holds the process open. */
  #ended(): void {
    if (--this.#active === 0) this.#connection?.unref();
  }

  /**
   * Stops using the connection (after a failure etcd3 counts as recoverable): calls in flight
   * finish on it, or at their deadline, calls waiting for its handshake fail as never sent; the
   * next call opens a new one.
   */
  reset(): void {
    const connection = this.#connection;
    this.#connection = undefined;
    if (!connection) return;
    // A closing connection takes no new streams: calls still waiting for its handshake fail now,
    // as never sent, so they can go to the next member at once.
    for (const waiter of waitingOn.get(connection)?.splice(0) ?? []) waiter.fail('the connection was reset');
    connection.close();
  }

  /** Ends the connection and every call on it for good: later calls fail as unavailable. */
  close(): void {
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    connection?.destroy();
  }

  #open(): H2Connection {
    if (this.#closed) throw new Error('the channel is closed');
    const current = this.#connection;
    if (current?.usable) return current;
    // A member that is still starting accepts connections but serves them only once it is up, so
    // a connection counts only once the server answered the handshake (as grpc-js's does): a call
    // written before then could run whenever the member gets to it, after its caller gave up.
    const waiting: Waiter[] = [];
    const forget = () => {
      if (this.#connection === connection) this.#connection = undefined;
    };
    const connection = new H2Connection(openSocket(this.authority, this.tls), {
      ready: () => {
        for (const waiter of waiting.splice(0)) waiter.send();
      },
      goaway: forget,
      // The first failure (a refused connection, a TLS handshake or alert) is what the calls
      // waiting for the connection fail with.
      ended: (why) => {
        forget();
        for (const waiter of waiting.splice(0)) waiter.fail(why);
      },
    });
    waitingOn.set(connection, waiting);
    this.#connection = connection;
    return connection;
  }
}

/** The fields of a request after its fixed ones: `grpc-timeout` for `deadline`, then `metadata`. */
function restFields(metadata: Metadata, deadline: number | undefined): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (deadline !== undefined) {
    const remaining = Math.max(1, Math.ceil(deadline - Date.now()));
    // gRPC allows 8 digits per timeout: whole seconds beyond that many milliseconds.
    fields.push([
      'grpc-timeout',
      remaining < 1e8 ? `${remaining}m` : `${Math.min(99_999_999, Math.ceil(remaining / 1000))}S`,
    ]);
  }
  for (const name in metadata) {
    const value = metadata[name];
    if (typeof value === 'object') for (const one of value) fields.push([name, one]);
    else if (value !== undefined) fields.push([name, String(value)]);
  }
  return fields;
}

/** The events of one unary call's stream: its message and its status (trailers or trailers-only). */
function unaryResponse(finish: CallDone): StreamEvents {
  const chunks: Buffer[] = [];
  let status: Status | undefined;
  return {
    headers: (fields: HeaderFields) => {
      status ??= statusOf(fields);
    },
    data: (chunk) => chunks.push(chunk),
    closed: (code, why) => {
      if (status === undefined) {
        finish(streamFailure(code, code === -1 ? why : `stream closed without a status (code ${code})`));
      } else if (status.code !== 0) {
        finish(status);
      } else {
        const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        const length = data.length >= 5 ? data.readUInt32BE(1) : -1;
        if (length < 0 || data[0] !== 0 || data.length < 5 + length) {
          finish({ code: INTERNAL, details: 'the response carries no uncompressed message' });
        } else finish(null, data.subarray(5, 5 + length));
      }
    },
  };
}

/**
 * The status of a stream that closed (with `code`, see `StreamEvents.closed`) without one: a
 * stream the server refused was not processed (HTTP/2 guarantees that much), so it counts as
 * never sent.
 */
export function streamFailure(code: number, why: string): Status {
  return code === REFUSED_STREAM ? notSent(why) : { code: UNAVAILABLE, details: why };
}
