import type { IWatchRequest } from 'etcd3';
import type { WatchResponse } from '../etcd/proto/watch.js';
import type { ReconnectingStream } from '../etcd/reconnecting-stream.js';

/**
 * Notices a watch stream that went silent. Started when a stream opens and told of every
 * response; after half of `timeoutMs` without one it asks etcd for a progress notification, and
 * again every quarter of the timeout while the silence lasts (etcd answers it even when idle, so
 * any answer proves the stream alive; but etcd 3.4.31+ and 3.5.13+ drop a request that arrives
 * while a watch of the stream is catching up, so one request is not enough). After `timeoutMs`
 * it resets the stream, so the next one gets a fresh connection. Checks every quarter of the
 * timeout (at least every 25 ms); `stop()` leaves no timer behind.
 */
export class StallDetector {
  private timer: NodeJS.Timeout | undefined;
  private lastHeard = 0;
  private probedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly stream: Pick<ReconnectingStream<IWatchRequest, WatchResponse>, 'write' | 'fail'>,
    private readonly timeoutMs: number,
    /** Told how long the stream had been silent when it is reset (a `watch.stalled` event). */
    private readonly onStall: (silentMs: number) => void = () => undefined,
  ) {}

  /** Starts watching a new stream, as if it had just answered. */
  start(): void {
    this.stop();
    this.heard();
    this.timer = setInterval(() => this.check(), Math.max(25, Math.floor(this.timeoutMs / 4)));
  }

  /** The stream answered: the silence starts over. */
  heard(): void {
    this.lastHeard = Date.now();
    this.probedAt = Number.NEGATIVE_INFINITY;
  }

  /** The stream is gone: nothing to watch. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const now = Date.now();
    const silent = now - this.lastHeard;
    if (silent >= this.timeoutMs) {
      this.onStall(silent);
      this.stream.fail(new Error(`watch stream silent for ${silent} ms`), 'reset');
    } else if (silent >= this.timeoutMs / 2 && now - this.probedAt >= this.timeoutMs / 4) {
      this.probedAt = now;
      this.stream.write({ progress_request: {} });
    }
  }
}
