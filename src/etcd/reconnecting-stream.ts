import { performance } from 'node:perf_hooks';
import type { IBackoff, IBackoffFactory } from 'cockatiel';
import { afterDispatch } from '../core/dispatch.js';
import { errorText } from '../core/error-text.js';

/** The operations of a gRPC bidi stream this module uses; etcd3's `IDuplexStream` has them. */
export interface BidiStream<Req, Res> {
  write(request: Req): void;
  end(): void;
  cancel(): void;
  on(event: 'data', listener: (response: Res) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'end', listener: () => void): this;
}

/**
 * How a stream is let go. `'end'` half-closes it before cancelling, so etcd3 treats the
 * cancellation as ours and leaves the host's connections alone. `'reset'` cancels it while still
 * writable, which etcd3 reports as a host failure: it then closes the host's gRPC clients, so the
 * next stream gets a fresh connection instead of a silent one.
 */
export type DropMode = 'end' | 'reset';

/** What the owner of a {@link ReconnectingStream} decides and learns. */
export interface StreamOwner<Res, S = unknown> {
  /** Whether a stream is needed right now (e.g. something is registered on it). */
  wanted(): boolean;
  /**
   * `stream` is open and current: send on it whatever it must carry. `downMs` is how long ago the
   * stream it replaces failed; undefined for a first stream (or one after `stop()`).
   */
  opened(stream: S, downMs: number | undefined): void;
  /** A response of the current stream (never one of a stream replaced since). */
  data(response: Res): void;
  /** The current stream was let go (failed, stopped or closed): forget what was registered on it. */
  dropped(): void;
  /**
   * The current stream failed with `err` (after `dropped`). Return `false` when reconnecting
   * cannot help (the owner then ends its users itself): no reconnect is scheduled.
   */
  failed(err: unknown): boolean;
}

/** What a {@link ReconnectingStream} needs from the Concord (its runtime has all of it). */
export interface StreamContext {
  /** Delays between reconnect attempts; restarted once the owner reports a response. */
  readonly reconnectBackoff: IBackoffFactory<unknown>;
  /** Receives connection evidence: a response means reachable, a failure unreachable. */
  readonly monitor: { report(reachable: boolean, failure?: unknown): void };
  readonly log: { warn(message: string, fields?: Record<string, unknown>): void };
}

/**
 * One reconnecting bidi stream. It is opened (through `open`) while the owner wants it, and
 * re-opened with the Concord's reconnect backoff whenever it fails or etcd ends it. Every stream
 * opened belongs to a generation; data, errors and ends of a stream that is no longer current are
 * ignored, and a stream that finishes opening when it is no longer wanted is ended at once. After
 * `close()` no stream is open, no timer is pending and nothing is reopened.
 */
export class ReconnectingStream<Req, Res, S extends BidiStream<Req, Res> = BidiStream<Req, Res>> {
  private stream: S | undefined;
  private opening = false;
  /** Bumped whenever the stream is replaced, so callbacks of an old stream are ignored. */
  private generation = 0;
  private backoff: IBackoff<unknown>;
  /** Whether `backoff` has advanced since the owner last reported a response. */
  private backingOff = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** When the last stream failed (`performance.now()`), until one is open again or none is wanted. */
  private failedAt: number | undefined;

  constructor(
    private readonly context: StreamContext,
    /** Names the stream in logs, e.g. `'watch stream'`. */
    private readonly name: string,
    private readonly open: () => Promise<S>,
    private readonly owner: StreamOwner<Res, S>,
  ) {
    this.backoff = context.reconnectBackoff.next(undefined);
  }

  /** Whether a stream is open now (not merely opening or waiting to reconnect). */
  get isOpen(): boolean {
    return this.stream !== undefined;
  }

  /** The delay the next reconnect would wait: owners pace their own retries with it. */
  get retryDelayMs(): number {
    return this.backoff.duration;
  }

  /** Writes `request` on the current stream; returns false (and writes nothing) when none is open. */
  write(request: Req): boolean {
    if (!this.stream) return false;
    this.stream.write(request);
    return true;
  }

  /** Opens a stream unless one is open or opening, a reconnect is pending, or the owner wants none. */
  connect(): void {
    if (this.stream || this.opening || this.reconnectTimer || this.closed || !this.owner.wanted()) return;
    this.opening = true;
    const generation = ++this.generation;
    this.open().then(
      (stream) => {
        this.opening = false;
        if (generation !== this.generation || this.closed || !this.owner.wanted()) {
          release(stream, 'end');
          // Dropped and wanted again while this one was opening: the newer need gets a stream.
          this.connect();
          return;
        }
        this.stream = stream;
        stream.on('data', (response: Res) => {
          if (generation === this.generation) this.owner.data(response);
        });
        stream.on('error', (err: Error) => this.onFailure(generation, err, 'end'));
        stream.on('end', () => this.onFailure(generation, new Error(`etcd ended the ${this.name}`), 'end'));
        const downMs = this.failedAt === undefined ? undefined : performance.now() - this.failedAt;
        this.failedAt = undefined;
        this.owner.opened(stream, downMs);
      },
      (err: unknown) => {
        this.opening = false;
        // The owner may have stopped and wanted a stream again while this attempt was pending;
        // the newer need still gets a stream.
        if (generation !== this.generation) this.connect();
        else this.onFailure(generation, err, 'end');
      },
    );
  }

  /** The owner saw a response: etcd is reachable and the reconnect backoff starts over. */
  responded(): void {
    if (this.backingOff) {
      this.backingOff = false;
      this.backoff = this.context.reconnectBackoff.next(undefined);
    }
    this.context.monitor.report(true);
  }

  /** The owner judged the current stream dead (e.g. silent): lets it go by `mode` and reconnects. */
  fail(err: unknown, mode: DropMode = 'end'): void {
    if (this.stream) this.onFailure(this.generation, err, mode);
  }

  /** No stream is wanted any more: ends the current one and cancels a pending reconnect. */
  stop(): void {
    this.failedAt = undefined;
    this.drop('end');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  /**
   * Stops in the event loop's next check phase if the owner then still wants no stream: whoever
   * lets go of its last use right before making a call (a hold's release) does not make that call
   * wait for the teardown, and a use added meanwhile keeps the stream.
   */
  stopWhenIdle(): void {
    void afterDispatch().then(() => {
      if (!this.owner.wanted()) this.stop();
    });
  }

  /** Stops for good: nothing is opened again. */
  close(): void {
    this.closed = true;
    this.stop();
  }

  private onFailure(generation: number, err: unknown, mode: DropMode): void {
    if (generation !== this.generation || this.closed) return;
    this.failedAt ??= performance.now();
    this.drop(mode);
    if (!this.owner.failed(err)) return;
    this.context.monitor.report(false, err);
    const delay = this.backoff.duration;
    this.backoff = this.backoff.next(undefined);
    this.backingOff = true;
    this.context.log.warn(`${this.name} interrupted; resuming`, { error: errorText(err), retryInMs: delay });
    // `failed` may have removed the owner's last user: then nothing is left to reconnect for.
    if (!this.owner.wanted()) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
  }

  /** Forgets the current stream (its late callbacks no longer count) and lets it go by `mode`. */
  private drop(mode: DropMode): void {
    this.generation++;
    const stream = this.stream;
    this.stream = undefined;
    this.owner.dropped();
    if (stream) release(stream, mode);
  }
}

/** Lets a stream go by `mode` (see {@link DropMode}); its late errors are swallowed. */
function release<Req, Res>(stream: BidiStream<Req, Res>, mode: DropMode): void {
  stream.on('error', () => undefined);
  if (mode === 'end') stream.end();
  stream.cancel();
}
