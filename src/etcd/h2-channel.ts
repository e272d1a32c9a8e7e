import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { errorText } from '../core/error-text.js';
import { framed, INTERNAL, type Status, statusOf, UNAVAILABLE } from './grpc-wire.js';

/** Flow-control window of a stream and of the session (4 MiB, as for concord's grpc-js channels). */
const WINDOW_BYTES = 4 * 1024 * 1024;

/** Sessions whose server answered the handshake (its SETTINGS): calls are written only to these. */
const ready = new WeakSet<ClientHttp2Session>();
/** Calls waiting for their session's handshake, by session. */
const waitingOn = new WeakMap<ClientHttp2Session, Waiter[]>();
/** RST_STREAM code of a stream the server refused before processing it. */
const REFUSED_STREAM = 7;
const DEADLINE_EXCEEDED = 4;

/** A call waiting for its session's handshake: written once it is answered, failed if it never is. */
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

/** TLS material of a secure channel (absent: plaintext). */
export interface ChannelTls {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
}

/** What one call ends with: the response message's bytes, or the status it failed with. */
export type CallDone = (err: { code: number; details: string } | null, message?: Buffer) => void;

/**
 * gRPC unary calls (and streams, see {@link H2Channel.stream}) to one etcd endpoint straight over
 * one `node:http2` session. etcd's unary RPCs are a request message in, a response message and a
 * status out: this is all a unary call needs, at about half the CPU of a grpc-js call (which runs
 * every call through its resolver, load-balancing, retry and filter stack), which on loopback is
 * about half the round trip. Calls and streams of one channel share its session, so the server
 * reads them in the order they were written. The session opens on the first call, reopens after
 * it closed or failed, and holds the process open only while a call or stream is open (as
 * grpc-js channels do).
 */
export class H2Channel {
  #session: ClientHttp2Session | undefined;
  #active = 0;
  #closed = false;

  constructor(
    /** `host:port` (an IPv6 host in brackets). */
    readonly authority: string,
    readonly tls: ChannelTls | undefined,
  ) {}

  /**
   * Sends one framed request message to `path` with `headers` (auth metadata) and, with
   * `deadline` (ms since the epoch), a `grpc-timeout` and a local timer that cancels the call
   * once it passes. `done` runs exactly once. Returns a function that cancels the call.
   */
  call(
    path: string,
    message: Buffer,
    headers: OutgoingHttpHeaders,
    deadline: number | undefined,
    done: CallDone,
  ): () => void {
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    let stream: ClientHttp2Stream | undefined;
    const finish = (err: { code: number; details: string } | null, bytes?: Buffer) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      this.#ended();
      done(err, bytes);
    };
    this.#active++;
    const session = this.#request(
      path,
      headers,
      deadline,
      () => !finished,
      (opened) => {
        stream = opened;
        readResponse(opened, finish);
        opened.end(framed(message));
      },
      (why) => finish(notSent(why)),
    );
    // Timers take at most 2^31 - 1 ms; a longer deadline is left to etcd's own (grpc-timeout).
    if (session && !finished && deadline !== undefined && deadline - Date.now() <= 2_147_483_647) {
      timer = setTimeout(
        () => {
          if (stream) {
            stream.close(constants.NGHTTP2_CANCEL);
            finish({ code: DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
            return;
          }
          finish(notSent('the server had not answered the connection by the deadline'));
          // A server that has not answered the handshake by now will not serve this connection
          // (after finish: a reset fails the calls still waiting, with its own reason).
          if (this.#session === session) this.reset();
        },
        Math.max(1, Math.ceil(deadline - Date.now())),
      );
    }
    return () => {
      stream?.close(constants.NGHTTP2_CANCEL);
      finish({ code: 1, details: 'Cancelled on client' });
    };
  }

  /**
   * Opens a gRPC stream to `path` with `headers` (auth metadata) on the same session as the unary
   * calls, once the server answered its handshake: `started` gets it (the session holds the
   * process open until it closes), or `failed` gets why it was never written (so it may go to
   * another member). Returns a function that gives up on a stream not yet started.
   */
  stream(
    path: string,
    headers: OutgoingHttpHeaders,
    started: (stream: ClientHttp2Stream) => void,
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
      headers,
      undefined,
      () => !settled,
      (stream) => {
        settled = true;
        stream.once('close', () => this.#ended());
        started(stream);
      },
      (why) => fail(notSent(why)),
    );
    return () => fail({ code: 1, details: 'Cancelled on client' });
  }

  /**
   * Once the session's server answered the handshake, and if `pending()` still holds, makes a
   * stream to `path`: `opened` gets it, or `unsent` why none was made (nothing was written). The
   * session holds the process open until {@link #ended}. Returns it; undefined when none opened.
   */
  #request(
    path: string,
    headers: OutgoingHttpHeaders,
    deadline: number | undefined,
    pending: () => boolean,
    opened: (stream: ClientHttp2Stream) => void,
    unsent: (why: string) => void,
  ): ClientHttp2Session | undefined {
    let session: ClientHttp2Session;
    try {
      session = this.#open();
    } catch (err) {
      unsent(errorText(err));
      return undefined;
    }
    session.ref();
    const send = () => {
      if (!pending()) return;
      let stream: ClientHttp2Stream;
      try {
        stream = session.request(requestHeaders(path, headers, deadline));
      } catch (err) {
        // The session was closing (reset, or a GOAWAY arrived) before this was written.
        unsent(errorText(err));
        return;
      }
      opened(stream);
    };
    if (ready.has(session)) send();
    else waitingOn.get(session)?.push({ send, fail: unsent });
    return session;
  }

  /** A call or stream is over: with none left, the session no longer holds the process open. */
  #ended(): void {
    if (--this.#active === 0) this.#session?.unref();
  }

  /**
   * Stops using the session (after a failure etcd3 counts as recoverable): calls in flight finish
   * on it, or at their deadline, calls waiting for its handshake fail as never sent; the next call
   * opens a new one.
   */
  reset(): void {
    const session = this.#session;
    this.#session = undefined;
    if (!session) return;
    // A closing session takes no new streams: calls still waiting for its handshake fail now,
    // as never sent, so they can go to the next member at once.
    for (const waiter of waitingOn.get(session)?.splice(0) ?? []) waiter.fail('the connection was reset');
    session.close();
  }

  /** Ends the session and every call on it for good: later calls fail as unavailable. */
  close(): void {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    session?.destroy();
  }

  #open(): ClientHttp2Session {
    if (this.#closed) throw new Error('the channel is closed');
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const socket = openSocket(this.authority, this.tls);
    const session = connect(`${this.tls ? 'https' : 'http'}://${this.authority}`, {
      // A range page of thousands of keys is far larger than HTTP/2's default 64 KiB window,
      // which would make the server wait for a window update every 64 KiB.
      settings: { initialWindowSize: WINDOW_BYTES },
      createConnection: () => socket,
    });
    const forget = () => {
      if (this.#session === session) this.#session = undefined;
    };
    // A member that is still starting accepts connections but serves them only once it is up, so
    // a connection counts only once the server answered the handshake (as grpc-js's does): a call
    // written before then could run whenever the member gets to it, after its caller gave up.
    const waiting: Waiter[] = [];
    waitingOn.set(session, waiting);
    session.once('remoteSettings', () => {
      ready.add(session);
      // Destroyed meanwhile (closed before its connection was up): nothing to widen.
      if (!session.destroyed) session.setLocalWindowSize(WINDOW_BYTES);
      for (const waiter of waiting.splice(0)) waiter.send();
    });
    const end = (why: string) => {
      forget();
      for (const waiter of waiting.splice(0)) waiter.fail(why);
    };
    // The first failure (a refused connection, a TLS handshake that failed) is what the calls
    // waiting for the connection fail with. A TLS alert after the handshake (the server refusing
    // the client's certificate) reaches only the socket, and the session then never emits
    // 'close', so an error of either ends the session here.
    const fail = (err: Error) => {
      end(err.message);
      session.destroy();
      socket.destroy();
    };
    session.on('error', fail);
    socket.on('error', fail);
    session.on('close', () => end('the connection closed before the server answered it'));
    session.on('goaway', forget);
    this.#session = session;
    return session;
  }
}

/** A connection to `authority` (plaintext, or TLS offering h2), without Nagle delay (as grpc-js's). */
function openSocket(authority: string, tls: ChannelTls | undefined): Socket {
  const host = authority.startsWith('[')
    ? authority.slice(1, authority.indexOf(']'))
    : authority.split(':')[0]!;
  const port = Number(authority.slice(authority.lastIndexOf(':') + 1));
  if (!tls) return netConnect({ host, port, noDelay: true });
  return tlsConnect({
    host,
    port,
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    ALPNProtocols: ['h2'],
    // SNI carries host names only; an IP address is still checked against the certificate.
    ...(isIP(host) ? {} : { servername: host }),
  }).setNoDelay(true);
}

/** The headers of a unary call to `path`, with a `grpc-timeout` for `deadline` (ms since the epoch) if given. */
function requestHeaders(
  path: string,
  metadata: OutgoingHttpHeaders,
  deadline: number | undefined,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ...metadata,
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
  };
  if (deadline !== undefined) {
    const remaining = Math.max(1, Math.ceil(deadline - Date.now()));
    // gRPC allows 8 digits per timeout: whole seconds beyond that many milliseconds.
    headers['grpc-timeout'] =
      remaining < 1e8 ? `${remaining}m` : `${Math.min(99_999_999, Math.ceil(remaining / 1000))}S`;
  }
  return headers;
}

/** Reads one unary response from `stream`: its message and its status (trailers or trailers-only). */
function readResponse(stream: ClientHttp2Stream, finish: CallDone): void {
  const chunks: Buffer[] = [];
  let status: Status | undefined;
  const take = (headers: IncomingHttpHeaders) => {
    status ??= statusOf(headers);
  };
  stream.on('response', take);
  stream.on('trailers', take);
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('error', (err) => finish(streamFailure(stream, err.message)));
  stream.on('close', () => {
    if (status === undefined) {
      finish(streamFailure(stream, `stream closed without a status (code ${stream.rstCode})`));
    } else if (status.code !== 0) {
      finish(status);
    } else {
      const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const length = data.length >= 5 ? data.readUInt32BE(1) : -1;
      if (length < 0 || data[0] !== 0 || data.length < 5 + length) {
        finish({ code: INTERNAL, details: 'the response carries no uncompressed message' });
      } else finish(null, data.subarray(5, 5 + length));
    }
  });
}

/**
 * The status of a stream that failed or closed without one: a stream the server refused was not
 * processed (HTTP/2 guarantees that much), so it counts as never sent.
 */
export function streamFailure(stream: ClientHttp2Stream, why: string): Status {
  return stream.rstCode === REFUSED_STREAM ? notSent(why) : { code: UNAVAILABLE, details: why };
}
