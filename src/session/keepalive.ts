import { performance } from 'node:perf_hooks';
import type { ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import type { Closable, Runtime } from '../core/runtime.js';
import { openBidiStream } from '../etcd/bidi-stream.js';
import { ReconnectingStream } from '../etcd/reconnecting-stream.js';

const KEEPALIVE = Symbol('concord.keepalive');

/** What the keepalive stream tells the owner of one lease. Times are `performance.now()` ms. */
export interface LeaseListener {
  /** etcd answered the keepalive sent at `sentAt`: the lease lives `ttlSeconds` from when etcd received it. */
  renewed(sentAt: number, ttlSeconds: number): void;
  /** etcd answered that the lease no longer exists. */
  gone(): void;
  /** The stream broke or stopped answering; renewals resume once it is back. */
  interrupted(): void;
}

interface KeptLease {
  readonly id: string;
  readonly listener: LeaseListener;
  /** Time between keepalives: a third of the TTL etcd last granted. */
  intervalMs: number;
  /** Send times of keepalives not answered yet, oldest first (etcd answers in order). */
  pending: number[];
  timer: NodeJS.Timeout | undefined;
}

/** The Concord's one keepalive stream, created on first use. */
export function keepAliveOf(runtime: Runtime): KeepAlive {
  return runtime.service(KEEPALIVE, () => new KeepAlive(runtime));
}

/**
 * Keeps every lease of one Concord alive over a single LeaseKeepAlive bidi stream. Each lease
 * gets a keepalive every third of its TTL; each answer is reported with the send time of the
 * request it answers, which is what a lease owner needs to compute a safe local deadline. The
 * stream is opened while at least one lease is kept, re-opened with backoff when it breaks, and
 * torn down when a keepalive goes unanswered for a whole interval (a silent, blackholed path).
 */
export class KeepAlive implements Closable {
  private readonly leases = new Map<string, KeptLease>();
  private readonly stream: ReconnectingStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
  private closed = false;

  constructor(runtime: Runtime) {
    this.stream = new ReconnectingStream(
      runtime,
      'lease keepalive stream',
      // On the http2 transport the stream shares the member's connection with the unary calls (one
      // connection per member), and letting it go costs a reset, not a grpc-js status error.
      () =>
        openBidiStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>(
          runtime.etcd,
          'Lease',
          'LeaseKeepAlive',
          {},
        ).then((opened) => opened.stream),
      {
        wanted: () => !this.closed && this.leases.size > 0,
        opened: () => {
          // Renew everything at once: the previous stream may have been down for a while.
          for (const lease of this.leases.values()) {
            this.send(lease);
            this.schedule(lease);
          }
        },
        data: (res) => this.onResponse(res),
        // Answers still in flight on a stream let go no longer count.
        dropped: () => {
          for (const lease of this.leases.values()) lease.pending = [];
        },
        failed: () => {
          for (const lease of this.leases.values()) lease.listener.interrupted();
          return true;
        },
      },
    );
  }

  /** Starts keeping `id` alive. The first keepalive goes out one interval from now (the lease was just granted). */
  add(id: string, ttlSeconds: number, listener: LeaseListener): void {
    if (this.closed || this.leases.has(id)) return;
    const lease: KeptLease = {
      id,
      listener,
      intervalMs: intervalOf(ttlSeconds),
      pending: [],
      timer: undefined,
    };
    this.leases.set(id, lease);
    this.schedule(lease);
    this.stream.connect();
  }

  /** Stops keeping `id` alive. The stream closes when no lease is left. */
  remove(id: string): void {
    this.forget(id);
    this.stopIfIdle();
  }

  /**
   * Stops keeping `id` alive but leaves the stream open even when no lease is left, until
   * {@link stopIfIdle}: a session being closed sends its revoke first, and a lease added
   * meanwhile (the next acquisition's) keeps the stream.
   */
  forget(id: string): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    clearTimeout(lease.timer);
    this.leases.delete(id);
  }

  /** Closes the stream if no lease is kept any more. */
  stopIfIdle(): void {
    if (this.leases.size === 0) this.stream.stop();
  }

  /** Whether `id` is currently kept alive (for tests and diagnostics). */
  has(id: string): boolean {
    return this.leases.has(id);
  }

  /** Number of open keepalive streams: 0 or 1. */
  get streams(): number {
    return this.stream.isOpen ? 1 : 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const lease of this.leases.values()) clearTimeout(lease.timer);
    this.leases.clear();
    this.stream.close();
  }

  private schedule(lease: KeptLease): void {
    clearTimeout(lease.timer);
    lease.timer = setTimeout(() => this.tick(lease), lease.intervalMs);
  }

  private tick(lease: KeptLease): void {
    if (this.leases.get(lease.id) !== lease) return;
    const oldest = lease.pending[0];
    if (this.stream.isOpen && oldest !== undefined && performance.now() - oldest >= lease.intervalMs) {
      // A whole interval without an answer: the path is likely dead even though the socket is
      // open. A new stream sends every lease's keepalive again at once (possibly via another member).
      this.stream.fail(new Error('keepalive unanswered for a whole interval'));
    } else {
      this.send(lease);
    }
    this.schedule(lease);
  }

  private send(lease: KeptLease): void {
    if (this.stream.isOpen) lease.pending.push(performance.now());
    this.stream.write({ ID: lease.id });
  }

  private onResponse(res: ILeaseKeepAliveResponse): void {
    this.stream.responded();
    const lease = this.leases.get(String(res.ID));
    if (!lease) return;
    const sentAt = lease.pending.shift();
    const ttl = Number(res.TTL);
    if (ttl <= 0) {
      this.remove(lease.id);
      lease.listener.gone();
      return;
    }
    if (sentAt === undefined) return;
    lease.intervalMs = intervalOf(ttl);
    lease.listener.renewed(sentAt, ttl);
  }
}

function intervalOf(ttlSeconds: number): number {
  return Math.max(100, Math.floor((ttlSeconds * 1000) / 3));
}
