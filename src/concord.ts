import { Etcd3 } from 'etcd3';
import type { Observable } from 'rxjs';
import { createLiveConfig, type LiveConfig } from './config/live-config.js';
import type { StandardSchemaV1 } from './config/standard-schema.js';
import type { ConfigOptions, ConfigValue } from './config/types.js';
import { ConnectionMonitor, type ConnectionState } from './core/connection.js';
import { EventBus } from './core/events.js';
import { Keyspace } from './core/keys.js';
import { Log } from './core/log.js';
import { Runtime } from './core/runtime.js';
import { createElection, type Election } from './election/election.js';
import type { ElectionOptions } from './election/types.js';
import { clientOptions } from './etcd/client-options.js';
import { startEndpointSync } from './etcd/endpoint-sync.js';
import { sendAllDirect } from './etcd/grpc/route.js';
import type { ConcordEvent } from './events/types.js';
import { createKeyValueStore, type KeyValueStore } from './kv/store.js';
import { createMutex, type Mutex } from './lock/mutex.js';
import { createRWLock, type RWLock } from './lock/rwlock.js';
import { createSemaphore, type Semaphore } from './lock/semaphore.js';
import type { LockPrimitiveOptions, SemaphoreOptions } from './lock/types.js';
import { type ConcordOptions, resolveOptions } from './options.js';
import { createDiscovery, type Discovery } from './service/discovery.js';
import { createRegistry, type Registry } from './service/registry.js';
import type { ServicePrefixOptions } from './service/types.js';
import { sessionStats } from './session/open-sessions.js';
import { createSession, type Session } from './session/session.js';
import type { SessionOptions, SessionStats } from './session/types.js';
import { checkIteratorArguments, checkViewArguments, checkWatchArguments } from './watch/arguments.js';
import { hubOf } from './watch/hub.js';
import type {
  View,
  WatchBatch,
  WatchIteratorOptions,
  WatchOptions,
  WatchRange,
  WatchStats,
} from './watch/types.js';

/** Set by {@link Concord}'s static block: the one way to reach a Concord's runtime from outside the class. */
let runtimeOfConcord: (concord: Concord) => Runtime;

/**
 * One connection to an etcd cluster and the entry point to every concord primitive. All
 * primitives created from one Concord share one watch stream and one lease keepalive stream.
 * `close()` releases everything the Concord opened: watches, sessions it created, timers.
 */
export class Concord implements AsyncDisposable {
  /**
   * The raw etcd3 client, for anything concord does not wrap. It does NOT apply the Concord
   * `namespace`: with `namespace: 'tenant-a/'`, what `lock.txn` writes as `balance` is
   * `tenant-a/balance` here. Use {@link kv} to read and write under the namespace. Closed by
   * {@link close}.
   */
  readonly etcd: Etcd3;
  /**
   * Reads and writes single keys under the Concord `namespace` (`get`, `getPrefix`, `put`,
   * `delete`): the keyspace of `lock.txn`, `watch()` and `view()`. See {@link KeyValueStore}.
   */
  readonly kv: KeyValueStore;
  /** Connection state: current value first, then every change; completes with `closed`. */
  readonly state$: Observable<ConnectionState>;
  /**
   * What happens inside this Concord, one typed stream discriminated by `type` (see
   * {@link ConcordEvent}): lock waits, acquisitions, releases and losses; campaigns, leaders and
   * lost leaderships; session states and keepalive round trips; watch reconnects, stalls and
   * resyncs; scoped work stopping and overrunning; registrations, ejections, config revisions,
   * connection states and failed etcd calls. Hot: events from the moment of subscription, none
   * replayed; completes once the Concord has closed. Cold and cheap: with no subscriber no event
   * is even built. Events carry names, keys, lease ids and revisions, never credentials, TLS
   * material or the values of keys.
   */
  readonly events$: Observable<ConcordEvent>;
  readonly #runtime: Runtime;

  static {
    runtimeOfConcord = (concord) => concord.#runtime;
  }

  /** Checks every option (throwing `InvalidArgumentError` before anything connects) and creates the etcd3 client. */
  constructor(options: ConcordOptions = {}) {
    const resolved = resolveOptions(options);
    const log = new Log(resolved.logger, resolved.auth ? [resolved.auth.password] : [], resolved.loggerStyle);
    const events = new EventBus();
    this.etcd = new Etcd3(clientOptions(resolved, events));
    if (resolved.unaryTransport === 'http2') sendAllDirect(this.etcd);
    const monitor = new ConnectionMonitor(this.etcd, resolved, log, events);
    const keys = new Keyspace(resolved.namespace);
    this.#runtime = new Runtime(this.etcd, keys, log, monitor, resolved.hub, resolved.reconnect, events);
    this.state$ = monitor.state$;
    this.events$ = events.events$;
    this.kv = createKeyValueStore(this.#runtime);
    const { autoSyncIntervalMs: intervalMs, secure } = resolved;
    if (intervalMs > 0) startEndpointSync(this.#runtime, { intervalMs, secure });
  }

  /**
   * Watches a key or a prefix through the Concord's one watch stream. Batches arrive in
   * revision order with no gaps or duplicates across reconnects; each `events` batch holds
   * exactly one revision. When etcd compacted past what was delivered, a `resync` batch
   * carries the range's full state instead of an error. Subscribers of the same range without
   * `fromRevision` share one server-side watch; such a subscriber first gets a `progress` batch
   * at the revision it starts after. Batches are pushed synchronously and the hub never waits
   * for a subscriber: slow work per batch belongs behind an operator such as `concatMap` (its
   * buffer is the subscriber's own), or use {@link watchIterator} for a bounded buffer. Cold:
   * nothing happens until subscribe; unsubscribing cancels the server-side watch once no
   * subscriber needs it.
   */
  watch(range: WatchRange, options?: WatchOptions): Observable<WatchBatch> {
    checkWatchArguments(this.#runtime, range, options);
    return hubOf(this.#runtime).watch(range, options);
  }

  /**
   * The live state of every key under `prefix`: the current snapshot on subscribe (from the
   * shared cache when the prefix is already watched), then a new View for every revision that
   * changes it. Survives reconnects and compaction without errors.
   */
  view(range: { prefix: string }): Observable<View> {
    checkViewArguments(this.#runtime, range);
    return hubOf(this.#runtime).view(range);
  }

  /**
   * Pull-based consumption of {@link watch} with a bounded buffer for slow consumers: see
   * {@link WatchIteratorOptions}.
   */
  watchIterator(
    range: WatchRange,
    options?: WatchOptions & WatchIteratorOptions,
  ): AsyncIterableIterator<WatchBatch> {
    checkIteratorArguments(this.#runtime, range, options);
    return hubOf(this.#runtime).iterate(range, options);
  }

  /**
   * Grants a lease (`ttl` seconds, integer >= 2, default 10) kept alive over the Concord's one
   * keepalive stream. The session declares itself lost when its local deadline (send time of the
   * last answered keepalive + TTL) passes, before etcd can expire the lease. Closed by
   * `concord.close()` if not before.
   */
  session(options?: SessionOptions): Promise<Session> {
    return createSession(this.#runtime, options);
  }

  /**
   * A fair, herd-free mutex named `name`: FIFO by create revision, each waiter watching only
   * its predecessor; handles carry a fencing token and guarded `txn()`. See {@link Mutex}.
   */
  mutex(name: string, options?: LockPrimitiveOptions): Mutex {
    return createMutex(this.#runtime, name, options);
  }

  /** A fair read-write lock named `name`: readers share, writers are exclusive, nobody overtakes. See {@link RWLock}. */
  rwlock(name: string, options?: LockPrimitiveOptions): RWLock {
    return createRWLock(this.#runtime, name, options);
  }

  /** A fair counting semaphore named `name` with `options.permits` permits. See {@link Semaphore}. */
  semaphore(name: string, options: SemaphoreOptions): Semaphore {
    return createSemaphore(this.#runtime, name, options);
  }

  /**
   * A leader election named `name` (one key segment: no '/'). Campaigns are fair (FIFO by create
   * revision), each leadership's `term` is its fencing token, and `leader$` follows the leader
   * through reconnects and compaction. See {@link Election}.
   */
  election(name: string, options?: ElectionOptions): Election {
    return createElection(this.#runtime, name, options);
  }

  /**
   * Announces service instances under `<prefix><service>/<instanceId>` (prefix default
   * `services/`), each under a session lease and re-registered by itself after a session loss.
   * See {@link Registry}.
   */
  registry(options?: ServicePrefixOptions): Registry {
    return createRegistry(this.#runtime, options);
  }

  /**
   * Finds and follows the instances registered under a prefix (default `services/`): live lists,
   * up/down/update changes and pickers, all on one shared watch per prefix. See {@link Discovery}.
   */
  discovery(options?: ServicePrefixOptions): Discovery {
    return createDiscovery(this.#runtime, options);
  }

  /**
   * Live config from the keys under `prefix` ('/' is appended when missing): one nested,
   * validated (any Standard Schema: zod, valibot, arktype), last-known-good object, merged
   * over `defaults` and streamed as `value$`; invalid writes go to `errors$`. With `instance`,
   * this process reports what it applied, so writers can follow a change with `rollout$` and
   * `rolledOut`. See {@link LiveConfig}.
   */
  config<S extends StandardSchemaV1 | undefined = undefined>(
    prefix: string,
    options?: ConfigOptions<S>,
  ): LiveConfig<ConfigValue<S>> {
    return createLiveConfig<ConfigValue<S>>(this.#runtime, prefix, options);
  }

  /** Counts of what the hub holds open now: gRPC watch streams, server-side watches, subscribers. */
  watchStats(): WatchStats {
    return hubOf(this.#runtime).stats();
  }

  /**
   * The sessions this Concord keeps alive now (its own and those of locks, elections and
   * registrations) and the lease budget of the one closest to its local deadline, in ms
   * (undefined when none is open). 0 open sessions after `close()`.
   */
  sessionStats(): SessionStats {
    return sessionStats(this.#runtime);
  }

  /**
   * Cancels every watch, releases every lock and leadership and revokes every session this
   * Concord created, then closes the etcd client. Idempotent; later calls resolve when the
   * first finishes.
   */
  close(): Promise<void> {
    return this.#runtime.close();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * @internal The shared services behind `concord` (etcd client, keyspace, hub, keepalives), for
 * concord's own modules and white-box tests; not part of the public API.
 */
export function runtimeOf(concord: Concord): Runtime {
  return runtimeOfConcord(concord);
}
