import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, type IOptions, isRecoverableError } from 'etcd3';
import type { Observable } from 'rxjs';
import { LiveConfig } from './config/live-config.js';
import type { StandardSchemaV1 } from './config/standard-schema.js';
import type { ConfigOptions, ConfigValue } from './config/types.js';
import { ConnectionMonitor, type ConnectionState } from './core/connection.js';
import { assertFits, Keyspace } from './core/keys.js';
import { Log, type Logger } from './core/log.js';
import { asEtcd3Policy, type ConcordPolicies } from './core/policies.js';
import { Runtime } from './core/runtime.js';
import { checkInteger, checkOptions } from './core/validate.js';
import { Election } from './election/election.js';
import type { ElectionOptions } from './election/types.js';
import { InvalidArgumentError } from './errors.js';
import { Mutex } from './lock/mutex.js';
import { RWLock } from './lock/rwlock.js';
import { Semaphore } from './lock/semaphore.js';
import type { LockPrimitiveOptions, SemaphoreOptions } from './lock/types.js';
import { Discovery, type ServicePrefixOptions } from './service/discovery.js';
import { Registry } from './service/registry.js';
import { Session, type SessionOptions } from './session/session.js';
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

/** Credentials for etcd's username/password authentication. */
export interface ConcordAuth {
  username: string;
  password: string;
}

/** TLS material, each as PEM text or a Buffer. `cert` + `key` enable client certificate auth. */
export interface ConcordTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** Tunables of the watch hub. */
export interface ConcordWatchOptions {
  /**
   * A watch stream silent this long, even to the progress request sent at half of it, is torn
   * down and resumed on a fresh connection (detection takes up to 1.25 × this). Default 10,000 ms.
   */
  stallTimeoutMs?: number;
  /** Keys per page when reading a whole range (first view load, re-read after compaction). Default 5,000. */
  pageSize?: number;
  /** Batches `watchIterator` buffers for a consumer before its overflow policy applies. Default 1,000. */
  maxBuffered?: number;
}

/** Options of {@link Concord}. Every field is optional. */
export interface ConcordOptions {
  /** etcd client endpoints (`host:port`, optionally with `http://` or `https://`). Default: `ETCD_ENDPOINTS` (comma separated) or `127.0.0.1:2379`. */
  endpoints?: string | readonly string[];
  /** Prefix applied to every key concord reads or writes. Default: none. */
  namespace?: string;
  auth?: ConcordAuth;
  tls?: ConcordTls;
  policies?: ConcordPolicies;
  /** Receives concord's diagnostics. Credentials never reach it. */
  logger?: Logger;
  /** Deadline of every unary etcd call. Default 5,000 ms. */
  callTimeoutMs?: number;
  /** How often `state$` probes etcd while it is observed. Default 1,000 ms. */
  probeIntervalMs?: number;
  watch?: ConcordWatchOptions;
}

const OPTION_NAMES = [
  'endpoints',
  'namespace',
  'auth',
  'tls',
  'policies',
  'logger',
  'callTimeoutMs',
  'probeIntervalMs',
  'watch',
] as const;

/**
 * One connection to an etcd cluster and the entry point to every concord primitive. All
 * primitives created from one Concord share one watch stream and one lease keepalive stream.
 * `close()` releases everything the Concord opened: watches, sessions it created, timers.
 */
export class Concord implements AsyncDisposable {
  /** The underlying etcd3 client, for anything concord does not wrap. Closed by {@link close}. */
  readonly etcd: Etcd3;
  /** Connection state: current value first, then every change; completes with `closed`. */
  readonly state$: Observable<ConnectionState>;
  /** @internal */
  readonly runtime: Runtime;

  constructor(options: ConcordOptions = {}) {
    checkOptions('options', options, OPTION_NAMES);
    const endpoints = resolveEndpoints(options.endpoints);
    const namespace = options.namespace ?? '';
    if (typeof namespace !== 'string')
      throw new InvalidArgumentError('options.namespace', 'must be a string', namespace);
    assertFits('options.namespace', Buffer.from(namespace, 'utf8'));
    checkAuth(options.auth);
    checkTls(options.tls);
    checkPolicies(options.policies);
    checkLogger(options.logger);
    checkOptions('options.watch', options.watch, ['stallTimeoutMs', 'pageSize', 'maxBuffered']);
    checkInteger('options.callTimeoutMs', options.callTimeoutMs, 1);
    checkInteger('options.probeIntervalMs', options.probeIntervalMs, 10);
    checkInteger('options.watch.stallTimeoutMs', options.watch?.stallTimeoutMs, 100);
    checkInteger('options.watch.pageSize', options.watch?.pageSize, 1, 100_000);
    checkInteger('options.watch.maxBuffered', options.watch?.maxBuffered, 1);

    const log = new Log(options.logger, options.auth ? [options.auth.password] : []);
    const callTimeoutMs = options.callTimeoutMs ?? 5_000;
    const etcdOptions: IOptions = {
      hosts: [...endpoints],
      // Unary calls get a deadline so a silent (blackholed) server fails them instead of hanging.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      grpcOptions: {
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
        // Range pages of thousands of keys outgrow gRPC's default 4 MiB receive limit.
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
      },
      faultHandling: {
        host: (host) => asEtcd3Policy(options.policies?.host?.(host) ?? noop),
        global: asEtcd3Policy(
          options.policies?.global ??
            retry(handleWhen(isRecoverableError), {
              maxAttempts: 3,
              backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1_000 }),
            }),
        ),
      },
    };
    if (options.auth) etcdOptions.auth = { username: options.auth.username, password: options.auth.password };
    if (options.tls) {
      etcdOptions.credentials = {
        rootCertificate:
          options.tls.ca === undefined ? (undefined as unknown as Buffer) : Buffer.from(options.tls.ca),
        ...(options.tls.key === undefined ? {} : { privateKey: Buffer.from(options.tls.key) }),
        ...(options.tls.cert === undefined ? {} : { certChain: Buffer.from(options.tls.cert) }),
      };
    }
    this.etcd = new Etcd3(etcdOptions);
    const monitor = new ConnectionMonitor(this.etcd, options.probeIntervalMs ?? 1_000, log);
    this.runtime = new Runtime(
      this.etcd,
      new Keyspace(namespace),
      log,
      monitor,
      {
        stallTimeoutMs: options.watch?.stallTimeoutMs ?? 10_000,
        pageSize: options.watch?.pageSize ?? 5_000,
        maxBuffered: options.watch?.maxBuffered ?? 1_000,
      },
      options.policies?.reconnect ?? new ExponentialBackoff({ initialDelay: 50, maxDelay: 2_000 }),
    );
    this.state$ = monitor.state$;
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
    checkWatchArguments(this.runtime, range, options);
    return hubOf(this.runtime).watch(range, options);
  }

  /**
   * The live state of every key under `prefix`: the current snapshot on subscribe (from the
   * shared cache when the prefix is already watched), then a new View for every revision that
   * changes it. Survives reconnects and compaction without errors.
   */
  view(range: { prefix: string }): Observable<View> {
    checkViewArguments(this.runtime, range);
    return hubOf(this.runtime).view(range);
  }

  /**
   * Pull-based consumption of {@link watch} with a bounded buffer for slow consumers: see
   * {@link WatchIteratorOptions}.
   */
  watchIterator(
    range: WatchRange,
    options?: WatchOptions & WatchIteratorOptions,
  ): AsyncIterableIterator<WatchBatch> {
    checkIteratorArguments(this.runtime, range, options);
    return hubOf(this.runtime).iterate(range, options);
  }

  /**
   * Grants a lease (`ttl` seconds, integer >= 2, default 10) kept alive over the Concord's one
   * keepalive stream. The session declares itself lost when its local deadline (send time of the
   * last answered keepalive + TTL) passes, before etcd can expire the lease. Closed by
   * `concord.close()` if not before.
   */
  session(options?: SessionOptions): Promise<Session> {
    return Session.create(this.runtime, options);
  }

  /**
   * A fair, herd-free mutex named `name`: FIFO by create revision, each waiter watching only
   * its predecessor; handles carry a fencing token and guarded `txn()`. See {@link Mutex}.
   */
  mutex(name: string, options?: LockPrimitiveOptions): Mutex {
    return new Mutex(this.runtime, name, options);
  }

  /** A fair read-write lock named `name`: readers share, writers are exclusive, nobody overtakes. See {@link RWLock}. */
  rwlock(name: string, options?: LockPrimitiveOptions): RWLock {
    return new RWLock(this.runtime, name, options);
  }

  /** A fair counting semaphore named `name` with `options.permits` permits. See {@link Semaphore}. */
  semaphore(name: string, options: SemaphoreOptions): Semaphore {
    return new Semaphore(this.runtime, name, options);
  }

  /**
   * A leader election named `name` (one key segment: no '/'). Campaigns are fair (FIFO by create
   * revision), each leadership's `term` is its fencing token, and `leader$` follows the leader
   * through reconnects and compaction. See {@link Election}.
   */
  election(name: string, options?: ElectionOptions): Election {
    return new Election(this.runtime, name, options);
  }

  /**
   * Announces service instances under `<prefix><service>/<instanceId>` (prefix default
   * `services/`), each under a session lease and re-registered by itself after a session loss.
   * See {@link Registry}.
   */
  registry(options?: ServicePrefixOptions): Registry {
    return new Registry(this.runtime, options);
  }

  /**
   * Finds and follows the instances registered under a prefix (default `services/`): live lists,
   * up/down/update changes and pickers, all on one shared watch per prefix. See {@link Discovery}.
   */
  discovery(options?: ServicePrefixOptions): Discovery {
    return new Discovery(this.runtime, options);
  }

  /**
   * Live config from the keys under `prefix` ('/' is appended when missing): one nested,
   * validated (any Standard Schema: zod, valibot, arktype), last-known-good object, merged
   * over `defaults` and streamed as `value$`; invalid writes go to `errors$`. See {@link LiveConfig}.
   */
  config<S extends StandardSchemaV1 | undefined = undefined>(
    prefix: string,
    options?: ConfigOptions<S>,
  ): LiveConfig<ConfigValue<S>> {
    return new LiveConfig<ConfigValue<S>>(this.runtime, prefix, options);
  }

  /** Counts of what the hub holds open now: gRPC watch streams, server-side watches, subscribers. */
  watchStats(): WatchStats {
    return hubOf(this.runtime).stats();
  }

  /**
   * Cancels every watch, releases every lock and leadership and revokes every session this
   * Concord created, then closes the etcd client. Idempotent; later calls resolve when the
   * first finishes.
   */
  close(): Promise<void> {
    return this.runtime.close();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function resolveEndpoints(value: string | readonly string[] | undefined): string[] {
  const raw = value ?? process.env.ETCD_ENDPOINTS ?? '127.0.0.1:2379';
  const list = typeof raw === 'string' ? raw.split(',') : raw;
  if (!Array.isArray(list) && typeof raw !== 'string') {
    throw new InvalidArgumentError('options.endpoints', 'must be a string or an array of strings', raw);
  }
  const endpoints = list.map((e) => (typeof e === 'string' ? e.trim() : e)).filter((e) => e !== '');
  if (endpoints.length === 0)
    throw new InvalidArgumentError('options.endpoints', 'must name at least one endpoint');
  for (const endpoint of endpoints) {
    if (
      typeof endpoint !== 'string' ||
      !/^(https?:\/\/)?[^\s/:]+(:\d{1,5})?$|^(https?:\/\/)?\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(endpoint)
    ) {
      throw new InvalidArgumentError(
        'options.endpoints',
        'must be host:port, optionally with http:// or https://',
        endpoint,
      );
    }
  }
  return endpoints;
}

function checkAuth(auth: unknown): void {
  if (auth === undefined) return;
  checkOptions('options.auth', auth, ['username', 'password']);
  const { username, password } = auth as Record<string, unknown>;
  if (typeof username !== 'string' || username === '') {
    throw new InvalidArgumentError('options.auth.username', 'must be a non-empty string');
  }
  // The value itself is never echoed: it is a credential.
  if (typeof password !== 'string')
    throw new InvalidArgumentError('options.auth.password', 'must be a string');
}

function checkTls(tls: unknown): void {
  if (tls === undefined) return;
  checkOptions('options.tls', tls, ['ca', 'cert', 'key']);
  const fields = tls as Record<string, unknown>;
  for (const name of ['ca', 'cert', 'key']) {
    const value = fields[name];
    if (value !== undefined && typeof value !== 'string' && !Buffer.isBuffer(value)) {
      throw new InvalidArgumentError(`options.tls.${name}`, 'must be PEM text or a Buffer');
    }
  }
  if ((fields.cert === undefined) !== (fields.key === undefined)) {
    throw new InvalidArgumentError(
      'options.tls',
      'must give cert and key together (client certificate auth)',
    );
  }
}

// A policy of the wrong shape would otherwise only fail inside etcd3, on the first call.
function checkPolicies(policies: unknown): void {
  checkOptions('options.policies', policies, ['global', 'host', 'reconnect']);
  const { global, host, reconnect } = (policies ?? {}) as Record<string, unknown>;
  if (global !== undefined && typeof (global as { execute?: unknown })?.execute !== 'function') {
    throw new InvalidArgumentError('options.policies.global', 'must be a cockatiel policy', global);
  }
  if (host !== undefined && typeof host !== 'function') {
    throw new InvalidArgumentError(
      'options.policies.host',
      'must be a function (host) => cockatiel policy',
      host,
    );
  }
  if (reconnect !== undefined && typeof (reconnect as { next?: unknown })?.next !== 'function') {
    throw new InvalidArgumentError('options.policies.reconnect', 'must be a cockatiel backoff', reconnect);
  }
}

function checkLogger(logger: unknown): void {
  if (logger === undefined) return;
  // Any object will do (console, pino, winston...): only the four level methods are used.
  if (logger === null || typeof logger !== 'object') {
    throw new InvalidArgumentError(
      'options.logger',
      'must be an object with debug/info/warn/error methods',
      logger,
    );
  }
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    const method = (logger as Record<string, unknown>)[level];
    if (method !== undefined && typeof method !== 'function') {
      throw new InvalidArgumentError(`options.logger.${level}`, 'must be a function', method);
    }
  }
}
