import { setMaxListeners } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { ClosedError } from '../errors.js';
import type { ConnectionMonitor } from './connection.js';
import { errorText } from './error-text.js';
import type { EventBus } from './events.js';
import type { Keyspace } from './keys.js';
import type { Log } from './log.js';
import type { ConcordBackoff } from './policies.js';

/** Something concord opened that must be released when its owner closes. */
export interface Closable {
  close(): Promise<void>;
}

/** Tunables of the watch hub, resolved with their defaults. */
export interface HubSettings {
  /** A stream silent for this long (no event, progress or answer to a progress request) is torn down and resumed. */
  stallTimeoutMs: number;
  /** How often to ask a member that answers progress requests in order for progress; 0: never. */
  progressIntervalMs: number;
  /** Keys per page when re-reading a range after compaction. */
  pageSize: number;
  /** Batches buffered for a subscriber that has not taken them yet (see `watchIterator`). */
  maxBuffered: number;
}

/**
 * The internal services every primitive of one Concord shares: the root etcd client, the
 * keyspace, logging, connection state, and lazily created singletons (the watch hub, the
 * keepalive stream). Closing it releases everything it tracks, newest first.
 */
export class Runtime {
  private readonly resources = new Set<Closable>();
  private readonly services = new Map<symbol, Closable>();
  private readonly abort = new AbortController();
  private closing: Promise<void> | undefined;
  /**
   * Set before anything is closed: closing a resource runs its listeners synchronously (a session
   * emitting `closed`), and those must already see the Concord as closed, not as a loss to repair.
   */
  private shuttingDown = false;

  constructor(
    readonly etcd: Etcd3,
    readonly keys: Keyspace,
    readonly log: Log,
    readonly monitor: ConnectionMonitor,
    readonly hubSettings: HubSettings,
    readonly reconnectBackoff: ConcordBackoff,
    /** `concord.events$`: emission points check `events.observed` before building an event. */
    readonly events: EventBus,
  ) {
    // Every wait in progress listens to it (see linkSignals): many at once is normal, not a leak.
    setMaxListeners(0, this.abort.signal);
  }

  /** Aborted when the Concord closes. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** True from the moment `close()` is called. */
  get closed(): boolean {
    return this.shuttingDown;
  }

  /** Throws {@link ClosedError} once the Concord is closing. */
  assertOpen(what: string): void {
    if (this.shuttingDown) throw new ClosedError(`${what}: the Concord is closed`);
  }

  /** The singleton registered under `key`, created on first use and closed with the runtime. */
  service<T extends Closable>(key: symbol, create: () => T): T {
    let service = this.services.get(key);
    if (!service) {
      this.assertOpen('concord');
      service = create();
      this.services.set(key, service);
    }
    return service as T;
  }

  /** Registers a resource to close with the runtime; the returned function unregisters it. */
  track(resource: Closable): () => void {
    this.resources.add(resource);
    return () => this.resources.delete(resource);
  }

  /** Closes tracked resources (newest first), then the shared services. Idempotent. */
  close(): Promise<void> {
    this.shuttingDown = true;
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    for (const resource of [...this.resources].reverse()) {
      try {
        await resource.close();
      } catch (err) {
        this.log.warn('closing a resource failed', {
          error: errorText(err),
        });
      }
    }
    this.resources.clear();
    this.abort.abort(new ClosedError('the Concord is closed'));
    for (const service of [...this.services.values()].reverse()) {
      await service.close().catch(() => undefined);
    }
    this.services.clear();
    this.monitor.close();
    this.etcd.close();
    this.events.complete();
  }
}
