import { noop } from 'cockatiel';
import type { Concord, ConcordOptions } from 'concord-etcd';
import { Etcd3 } from 'etcd3';
import { concordModule } from './concord.js';

type Cleanup = () => unknown;

const CLEANUP_TIMEOUT_MS = 10_000;

/**
 * The resources one scenario opened: clients, subscriptions, child processes. `close()` releases
 * them newest first, each bounded in time, so a failed or timed-out scenario cannot leak watches
 * into the next one or keep the process alive.
 */
export class Scope {
  private readonly cleanups: Cleanup[] = [];

  constructor(
    private readonly endpoints: readonly string[],
    /** `events`: every Concord gets an events$ subscriber that counts what it emits (bench --events). */
    private readonly options: { events?: boolean } = {},
  ) {}

  /** Events the subscribers of `--events` received. */
  eventsSeen = 0;

  /** Registers `fn` to run at close; the returned function runs it early instead (it runs at most once). */
  defer(fn: Cleanup): () => Promise<void> {
    let done = false;
    const once = async () => {
      if (done) return;
      done = true;
      await fn();
    };
    this.cleanups.push(once);
    return once;
  }

  /** A new Concord (from the built package) on the bench cluster, closed with the scope. */
  concord(options: ConcordOptions = {}): Concord {
    const concord = new (concordModule().Concord)({ endpoints: [...this.endpoints], ...options });
    if (this.options.events) {
      // Ends by itself: events$ completes when the Concord closes.
      concord.events$.subscribe(() => {
        this.eventsSeen++;
      });
    }
    this.defer(() => concord.close());
    return concord;
  }

  /**
   * A new plain etcd3 client on the bench cluster, closed with the scope. Its per-host circuit
   * breaker is replaced by a no-op, the one setting concord also changes: etcd3's default opens
   * the breaker when watches are cancelled and then fails every call for 5 s, which would turn
   * the baselines into error reports rather than measurements.
   */
  etcd3(hosts: readonly string[] = this.endpoints, ownConnection = false): Etcd3 {
    // gRPC shares one connection among clients with equal options in a process (its global
    // subchannel pool); `ownConnection` gives the client a connection of its own, as a client in
    // another process (or Go's clientv3.Client) has.
    const grpcOptions = ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : undefined;
    const client = new Etcd3({
      hosts: [...hosts],
      faultHandling: { host: () => noop },
      ...(grpcOptions && { grpcOptions }),
    });
    this.defer(() => client.close());
    return client;
  }

  /** Runs every cleanup, newest first; failures and hangs are reported, never thrown. */
  async close(): Promise<string[]> {
    const problems: string[] = [];
    while (this.cleanups.length > 0) {
      const cleanup = this.cleanups.pop()!;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(cleanup),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`cleanup took over ${CLEANUP_TIMEOUT_MS} ms`)),
              CLEANUP_TIMEOUT_MS,
            );
          }),
        ]);
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      } finally {
        clearTimeout(timer);
      }
    }
    return problems;
  }
}
