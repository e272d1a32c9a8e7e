import { ExponentialBackoff } from 'cockatiel';
import { assertFits } from './core/keys.js';
import type { Logger, LoggerStyle } from './core/log.js';
import type { ConcordBackoff, ConcordPolicies } from './core/policies.js';
import type { HubSettings } from './core/runtime.js';
import { checkInteger, checkOptions } from './core/validate.js';
import { InvalidArgumentError } from './errors.js';

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
  /**
   * How often the watch stream asks etcd for progress, so that the revision of quiet ranges
   * (`progress` batches, `View.revision`) keeps moving without the server flag
   * `--experimental-watch-progress-notify-interval`. Only on members that answer such requests
   * in order with the events (etcd 3.4.25+, 3.5.8+, 3.6+: read from the member's version once per
   * stream); older members still get the stall probes, whose answers count for liveness only.
   * 0 turns the requests off. Default 2,000 ms.
   */
  progressIntervalMs?: number;
  /** Keys per page when reading a whole range (first view load, re-read after compaction). Default 5,000. */
  pageSize?: number;
  /** Batches `watchIterator` buffers for a consumer before its overflow policy applies. Default 1,000. */
  maxBuffered?: number;
}

/** Options of {@link Concord}. Every field is optional. */
export interface ConcordOptions {
  /** etcd client endpoints (`host:port`, optionally with `http://` or `https://`). Default: `ETCD_ENDPOINTS` (comma separated) or `127.0.0.1:2379`. */
  endpoints?: string | readonly string[];
  /**
   * Prefix applied to every key concord reads or writes, and stripped from every key it reports.
   * A namespace is a key segment: one without a trailing `/` gets one (`'tenant-c'` means
   * `'tenant-c/'`), the same rule as `concord.config(prefix)`. Default: none (`''` stays empty).
   */
  namespace?: string;
  auth?: ConcordAuth;
  tls?: ConcordTls;
  policies?: ConcordPolicies;
  /**
   * Receives concord's diagnostics. Credentials never reach it. Console-style `(message, fields)`
   * loggers (console, winston) and pino/bunyan-style `(fields, message)` loggers both work: see
   * `loggerStyle`.
   */
  logger?: Logger;
  /**
   * How `logger` takes a line with fields: `'message-first'` (`logger.warn(message, fields)`) or
   * `'fields-first'` (`logger.warn(fields, message)`). Default: detected, `'fields-first'` for
   * pino and bunyan loggers, `'message-first'` for anything else. Give it for a wrapper around
   * pino or bunyan, which cannot be recognised.
   */
  loggerStyle?: LoggerStyle;
  /** Deadline of every unary etcd call. Default 5,000 ms. */
  callTimeoutMs?: number;
  /** How often `state$` probes etcd while it is observed (or a bounded wait runs). Default 1,000 ms. */
  probeIntervalMs?: number;
  /**
   * How often to read the cluster's member list and make its members' client URLs the endpoints
   * (Go's `AutoSyncInterval`), so members replaced at new addresses stay reachable. Only when the
   * endpoint that answers is an address its member advertises: through a proxy, a load balancer,
   * a DNS alias or a NAT port the endpoints stay as given. `0` or `false` turns it off. Default
   * 30,000 ms (integer >= 100).
   */
  autoSyncIntervalMs?: number | false;
  /**
   * How long a one-shot wait for etcd waits while etcd cannot be reached before it rejects with
   * `NotConnectedError` (naming the endpoints and the last failure): `config.load()`,
   * `picker.ready()`, and `lock()` / `acquire()` / `read()` / `write()` / `campaign()` before
   * they wrote their key. Counted while `state$` is not `connected` (a wrong endpoint, etcd down
   * at start or gone since), from the call on or from the moment etcd became unreachable. Streams
   * (`watch()`, `view()`, `value$`, `leader$`, `instances$`) never time out: they keep retrying,
   * and `state$` shows `disconnected` meanwhile. Default 5,000 ms.
   */
  connectTimeoutMs?: number;
  /**
   * How etcd calls travel. `'http2'` (default): unary calls (reads, writes, transactions, lease
   * grants and revokes), the watch stream and the lease keepalive stream go over concord's own
   * gRPC calls on one HTTP/2 connection per endpoint, spoken by concord's own HTTP/2 client: a
   * fraction of grpc-js's client CPU, and each request on the socket at the end of the turn of the
   * event loop that makes it, so shorter round trips; endpoint choice, auth, TLS, deadlines, retries and error
   * types stay etcd3's, and a release travels on the watch stream's connection (etcd sees the
   * cancel of the holder's own watch first). `'grpc-js'`: everything through grpc-js, as etcd3 sends it (the
   * 0.1 behaviour).
   */
  unaryTransport?: UnaryTransport;
  watch?: ConcordWatchOptions;
}

/** See {@link ConcordOptions.unaryTransport}. */
export type UnaryTransport = 'http2' | 'grpc-js';

/** {@link ConcordOptions} checked, with every default applied. */
export interface ResolvedOptions {
  endpoints: string[];
  namespace: string;
  auth: ConcordAuth | undefined;
  tls: ConcordTls | undefined;
  /** The user's etcd3 policies; missing ones get the etcd layer's defaults. */
  policies: Pick<ConcordPolicies, 'global' | 'host'>;
  reconnect: ConcordBackoff;
  logger: Logger | undefined;
  /** Undefined: detected from the logger. */
  loggerStyle: LoggerStyle | undefined;
  callTimeoutMs: number;
  probeIntervalMs: number;
  /** 0: off. */
  autoSyncIntervalMs: number;
  /** Whether the client talks TLS (endpoints synced from the member list must then be https). */
  secure: boolean;
  connectTimeoutMs: number;
  unaryTransport: UnaryTransport;
  hub: HubSettings;
}

const LOGGER_STYLES: readonly LoggerStyle[] = ['message-first', 'fields-first'];
const UNARY_TRANSPORTS: readonly UnaryTransport[] = ['http2', 'grpc-js'];

const OPTION_NAMES = [
  'endpoints',
  'namespace',
  'auth',
  'tls',
  'policies',
  'logger',
  'loggerStyle',
  'callTimeoutMs',
  'probeIntervalMs',
  'autoSyncIntervalMs',
  'connectTimeoutMs',
  'unaryTransport',
  'watch',
] as const;

/**
 * Checks every option of `new Concord(options)` and applies the defaults. Throws
 * {@link InvalidArgumentError} naming the first bad option and its rule, before anything connects.
 */
export function resolveOptions(options: ConcordOptions): ResolvedOptions {
  checkOptions('options', options, OPTION_NAMES);
  const endpoints = resolveEndpoints(options.endpoints);
  const namespace = resolveNamespace(options.namespace);
  assertFits('options.namespace', Buffer.from(namespace, 'utf8'));
  checkAuth(options.auth);
  checkTls(options.tls);
  checkPolicies(options.policies);
  checkLogger(options.logger);
  checkOneOf('options.loggerStyle', options.loggerStyle, LOGGER_STYLES);
  checkOneOf('options.unaryTransport', options.unaryTransport, UNARY_TRANSPORTS);
  checkOptions('options.watch', options.watch, [
    'stallTimeoutMs',
    'progressIntervalMs',
    'pageSize',
    'maxBuffered',
  ]);
  checkInteger('options.callTimeoutMs', options.callTimeoutMs, 1);
  checkInteger('options.probeIntervalMs', options.probeIntervalMs, 10);
  checkInteger('options.connectTimeoutMs', options.connectTimeoutMs, 1);
  const autoSync = options.autoSyncIntervalMs === false ? 0 : options.autoSyncIntervalMs;
  checkZeroOrAtLeast('options.autoSyncIntervalMs', autoSync, 100, '0 or false');
  checkInteger('options.watch.stallTimeoutMs', options.watch?.stallTimeoutMs, 100);
  checkZeroOrAtLeast('options.watch.progressIntervalMs', options.watch?.progressIntervalMs, 10);
  checkInteger('options.watch.pageSize', options.watch?.pageSize, 1, 100_000);
  checkInteger('options.watch.maxBuffered', options.watch?.maxBuffered, 1);
  const { global, host, reconnect } = options.policies ?? {};
  return {
    endpoints,
    namespace,
    auth: options.auth,
    tls: options.tls,
    policies: { global, host },
    reconnect: reconnect ?? new ExponentialBackoff({ initialDelay: 50, maxDelay: 2_000 }),
    logger: options.logger,
    loggerStyle: options.loggerStyle,
    callTimeoutMs: options.callTimeoutMs ?? 5_000,
    probeIntervalMs: options.probeIntervalMs ?? 1_000,
    autoSyncIntervalMs: autoSync ?? 30_000,
    secure: options.tls !== undefined || endpoints.some((e) => /^https:/i.test(e)),
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    unaryTransport: options.unaryTransport ?? 'http2',
    hub: {
      stallTimeoutMs: options.watch?.stallTimeoutMs ?? 10_000,
      progressIntervalMs: options.watch?.progressIntervalMs ?? 2_000,
      pageSize: options.watch?.pageSize ?? 5_000,
      maxBuffered: options.watch?.maxBuffered ?? 1_000,
    },
  };
}

/** Throws {@link InvalidArgumentError} unless `value` is undefined or one of `allowed`. */
function checkOneOf(argument: string, value: unknown, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    throw new InvalidArgumentError(
      argument,
      `must be one of ${allowed.map((v) => `'${v}'`).join(', ')}`,
      value,
    );
  }
}

/** One rule with config prefixes: a non-empty namespace ends in '/' (`'tenant-c'` never yields `'tenant-corders/…'`). */
function resolveNamespace(value: unknown): string {
  if (value === undefined || value === '') return '';
  if (typeof value !== 'string')
    throw new InvalidArgumentError('options.namespace', 'must be a string', value);
  return value.endsWith('/') ? value : `${value}/`;
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

/** Throws unless `value` is undefined, 0 (off) or an integer >= `min`; `off` says how to turn it off. */
function checkZeroOrAtLeast(argument: string, value: unknown, min: number, off = '0'): void {
  if (value === undefined || value === 0) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(argument, `must be ${off} (off) or an integer >= ${min}`, value);
  }
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
