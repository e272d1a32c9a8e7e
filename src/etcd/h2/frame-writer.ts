import type { Socket } from 'node:net';
import * as F from './frames.js';

/** How long the answer to a server PING may wait for a write to travel with (see `answerPing`). */
const PING_ANSWER_MS = 10;

/**
 * How a connection's frames reach its socket. Everything written in one turn of the event loop (a
 * callback and the promise jobs after it) goes out in one socket write at the turn's end: a
 * loopback write costs 50-150 µs of kernel time, and a turn often writes several times. A release
 * writes the cancel of its own-key watch and, a few promise hops later, the revoke the successor
 * waits for (sent 0.45 ms after the cancel when each was a write of its own); closing a stream
 * writes its end and its reset.
 */
export class FrameWriter {
  /** Frames written this turn, not yet handed to the socket. */
  #unsent: Buffer[] = [];
  /** PING answers not sent yet, and the timer that sends them (see {@link answerPing}). */
  readonly #pingAnswers: Buffer[] = [];
  #pingTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(private readonly socket: Socket) {}

  /** Sends `bytes` (whole frames), in order, at the end of this turn. */
  write(bytes: Buffer): void {
    if (this.#stopped) return;
    this.#unsent.push(bytes);
    // A tick queued by a promise job runs once every promise job of the turn has run.
    if (this.#unsent.length === 1) queueMicrotask(() => process.nextTick(this.flush));
  }

  /**
   * Answers a server PING with the next write, or within {@link PING_ANSWER_MS}. etcd's gRPC
   * server pings after nearly every request it reads (grpc-go's bandwidth estimator, which with
   * etcd's small messages never reaches the size at which it stops), so answering at once cost a
   * socket write of its own just when etcd works on the request; a late answer only makes the
   * estimator measure a longer round trip, and no new estimate starts while it waits.
   */
  answerPing(payload: Buffer): void {
    this.#pingAnswers.push(F.frame(F.PING, F.ACK, 0, payload));
    if (this.#pingTimer || this.#stopped) return;
    this.#pingTimer = setTimeout(() => {
      this.#pingTimer = undefined;
      for (const answer of this.#pingAnswers.splice(0)) this.write(answer);
    }, PING_ANSWER_MS);
    this.#pingTimer.unref();
  }

  /** Hands what was written so far to the socket now (a connection error's GOAWAY, before the end). */
  readonly flush = (): void => {
    if (this.#stopped || this.#unsent.length === 0) return;
    clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
    const unsent = [...this.#pingAnswers.splice(0), ...this.#unsent];
    this.#unsent = [];
    this.socket.write(unsent.length === 1 ? unsent[0]! : Buffer.concat(unsent));
  };

  /** Writes nothing more (the socket is being destroyed). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#pingTimer);
  }
}
