import { performance } from 'node:perf_hooks';
import type { IBackoff } from 'cockatiel';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import { errorText } from '../core/error-text.js';
import type { Closable, Runtime } from '../core/runtime.js';

const KEEPALIVE = Symbol('concord.keepalive');

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

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
  private stream: KeepAliveStream | undefined;
  private opening = false;
  /** Bumped whenever the stream is replaced, so callbacks of an old stream are ignored. */
  private generation = 0;
  private backoff: IBackoff<unknown>;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly runtime: Runtime) {
    this.backoff = runtime.reconnectBackoff.next(undefined);
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
    this.openStream();
  }

  /** Stops keeping `id` alive. The stream closes when no lease is left. */
  remove(id: string): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    clearTimeout(lease.timer);
    this.leases.delete(id);
    if (this.leases.size === 0) {
      this.dropStream();
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
  }

  /** Whether `id` is currently kept alive (for tests and diagnostics). */
  has(id: string): boolean {
    return this.leases.has(id);
  }

  /** Number of open keepalive streams: 0 or 1. */
  get streams(): number {
    return this.stream ? 1 : 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const lease of this.leases.values()) clearTimeout(lease.timer);
    this.leases.clear();
    this.dropStream();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private schedule(lease: KeptLease): void {
    clearTimeout(lease.timer);
    lease.timer = setTimeout(() => this.tick(lease), lease.intervalMs);
  }

  private tick(lease: KeptLease): void {
    if (this.leases.get(lease.id) !== lease) return;
    const oldest = lease.pending[0];
    if (this.stream && oldest !== undefined && performance.now() - oldest >= lease.intervalMs) {
      // A whole interval without an answer: the path is likely dead even though the socket is
      // open. A new stream sends every lease's keepalive again at once (possibly via another member).
      this.onStreamFailure(this.generation, new Error('keepalive unanswered for a whole interval'));
    } else {
      this.send(lease);
    }
    this.schedule(lease);
  }

  private send(lease: KeptLease): void {
    if (!this.stream) return;
    lease.pending.push(performance.now());
    this.stream.write({ ID: lease.id });
  }

  private openStream(): void {
    if (this.stream || this.opening || this.reconnectTimer || this.closed || this.leases.size === 0) return;
    this.opening = true;
    const generation = ++this.generation;
    this.runtime.etcd.leaseClient.leaseKeepAlive().then(
      (stream) => {
        this.opening = false;
        if (generation !== this.generation || this.closed || this.leases.size === 0) {
          endStream(stream);
          this.openStream();
          return;
        }
        this.stream = stream;
        stream.on('data', (res: ILeaseKeepAliveResponse) => {
          if (generation === this.generation) this.onResponse(res);
        });
        stream.on('error', (err: Error) => this.onStreamFailure(generation, err));
        stream.on('end', () =>
          this.onStreamFailure(generation, new Error('etcd ended the keepalive stream')),
        );
        // Renew everything at once: the previous stream may have been down for a while.
        for (const lease of this.leases.values()) {
          this.send(lease);
          this.schedule(lease);
        }
      },
      (err: unknown) => {
        this.opening = false;
        this.onStreamFailure(generation, err);
      },
    );
  }

  private onResponse(res: ILeaseKeepAliveResponse): void {
    this.backoff = this.runtime.reconnectBackoff.next(undefined);
    this.runtime.monitor.report(true);
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

  private onStreamFailure(generation: number, err: unknown): void {
    if (generation !== this.generation || this.closed) return;
    this.dropStream();
    this.runtime.monitor.report(false);
    const delay = this.backoff.duration;
    this.backoff = this.backoff.next(undefined);
    this.runtime.log.warn('lease keepalive stream interrupted; resuming', {
      error: errorText(err),
      retryInMs: delay,
    });
    for (const lease of this.leases.values()) lease.listener.interrupted();
    if (this.leases.size === 0) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openStream();
    }, delay);
  }

  /** Forgets the current stream; answers still in flight on it no longer count. */
  private dropStream(): void {
    this.generation++;
    const stream = this.stream;
    this.stream = undefined;
    for (const lease of this.leases.values()) lease.pending = [];
    if (stream) endStream(stream);
  }
}

function intervalOf(ttlSeconds: number): number {
  return Math.max(100, Math.floor((ttlSeconds * 1000) / 3));
}

/**
 * Ends a stream we no longer want. Half-closing first makes etcd3 treat the cancellation as
 * ours: it only reports errors of still-writable streams to its host failure handling, which
 * would otherwise reset every gRPC client of the host.
 */
function endStream(stream: KeepAliveStream): void {
  stream.on('error', () => undefined);
  stream.end();
  stream.cancel();
}
