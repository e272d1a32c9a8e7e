import type { Etcd3 } from 'etcd3';
import { afterDispatch } from '../core/dispatch.js';
import type { Keyspace } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import type { RangeKv } from '../etcd/proto/range.js';
import { rangePage } from '../etcd/range-page.js';
import { retryTransient } from '../etcd/retry.js';
import { isTransient } from '../etcd/translate.js';
import { keyValueOf } from './decode.js';
import type { KeyValue, WatchRange } from './types.js';

/** A watch range resolved to etcd bytes. `rangeEnd` is absent for a single key. */
export interface EtcdRange {
  key: Buffer;
  rangeEnd?: Buffer;
}

/** Resolves a caller's range against the keyspace. */
export function resolveRange(keys: Keyspace, range: WatchRange): EtcdRange {
  if (!('prefix' in range)) return { key: keys.key(range.key) };
  const { key, rangeEnd } = keys.prefixRange(range.prefix);
  // An empty prefix without a namespace means every key; etcd spells that start as "\0"
  // because it rejects an empty key.
  return { key: key.length === 0 ? Buffer.from([0]) : key, rangeEnd };
}

/** A stable identity for a range, used to share one server-side watch between subscribers. */
export function rangeId(range: EtcdRange): string {
  return `${range.key.toString('hex')}:${range.rangeEnd?.toString('hex') ?? ''}`;
}

/** The outcome of {@link readRange}: every key in the range as of `revision`. */
export interface RangeSnapshot<T = KeyValue> {
  revision: bigint;
  /** Each key's entry (as `convert` made it), in etcd's key order. */
  entries: Map<string, T>;
  /** Range RPCs it took (pages). */
  pages: number;
}

/**
 * Turns one key read from etcd (its key with the namespace stripped, and the key as read) into
 * what a snapshot keeps for it. The fields of `kv` other than key, value and mod revision are
 * decoded when read, so a conversion that needs none of them pays for none.
 */
export type Convert<T> = (key: string, kv: RangeKv) => T;

const asRead: Convert<KeyValue> = keyValueOf;

/**
 * Reads every key of a range at one revision, `pageSize` keys per request, so that a large
 * prefix never needs one huge response. The first page is a linearizable read and fixes the
 * revision; later pages read at that same revision, so the result is one consistent cut. Each
 * next page is sent to etcd before the current one is converted, so conversion overlaps the wait.
 */
export function readRange(
  etcd: Etcd3,
  keys: Keyspace,
  range: EtcdRange,
  pageSize: number,
  convert?: undefined,
  signal?: AbortSignal,
): Promise<RangeSnapshot>;
/**
 * {@link readRange}, keeping `convert(kv)` for each key instead of the KeyValue. A `signal` that
 * aborts stops the read before its next page (rejecting with its reason).
 */
export function readRange<T>(
  etcd: Etcd3,
  keys: Keyspace,
  range: EtcdRange,
  pageSize: number,
  convert: Convert<T>,
  signal?: AbortSignal,
): Promise<RangeSnapshot<T>>;
export async function readRange<T>(
  etcd: Etcd3,
  keys: Keyspace,
  range: EtcdRange,
  pageSize: number,
  convert?: Convert<T>,
  signal?: AbortSignal,
): Promise<RangeSnapshot<T | KeyValue>> {
  const keep: Convert<T | KeyValue> = convert ?? asRead;
  const entries = new Map<string, T | KeyValue>();
  const visit = (key: string, raw: RangeKv) => entries.set(key, keep(key, raw));
  const { revision, pages } = await readPages(etcd, keys, range, pageSize, visit, signal);
  return { revision, entries, pages };
}

/**
 * The keys of a range read at one revision, in etcd's key order: `values[i]` is what `convert`
 * made of `keys[i]`. No map: building one (hashing every key) takes ~3.5 ms per 10,000 keys
 * (converting discovery's 10,000 instances, ~16 ms), for a consumer that keeps a list for nothing.
 */
export interface RangeList<T> {
  revision: bigint;
  keys: string[];
  values: T[];
  /** Range RPCs it took (pages). */
  pages: number;
}

/** The pages of a range read (see {@link readRange}), each key handed to `visit` in order. */
async function readPages(
  etcd: Etcd3,
  keys: Keyspace,
  range: EtcdRange,
  pageSize: number,
  visit: (key: string, raw: RangeKv) => void,
  signal: AbortSignal | undefined,
): Promise<{ revision: bigint; pages: number }> {
  const page = (start: Buffer, revision: bigint | undefined) =>
    rangePage(etcd, {
      key: start,
      ...(range.rangeEnd ? { rangeEnd: range.rangeEnd, limit: pageSize } : {}),
      revision,
    });
  let pending = page(range.key, undefined);
  let revision: bigint | undefined;
  let pages = 0;
  for (;;) {
    const res = await pending;
    pages++;
    revision ??= res.revision;
    const last = res.kvs.at(-1);
    const more = res.more && last !== undefined && range.rangeEnd !== undefined;
    signal?.throwIfAborted();
    if (more) {
      pending = page(Buffer.concat([last.key, Buffer.from([0])]), revision);
      // The call only leaves after the promise jobs queued now (etcd3 starts it a few promise hops
      // later; grpc-js writes it later still): converting first would keep the request back until
      // the conversion is done, and etcd idle meanwhile (measured: no overlap at all). Handled
      // now, so a call failing during the turn is not an unhandled rejection; awaited below.
      pending.catch(() => undefined);
      await afterDispatch();
    }
    for (const raw of res.kvs) visit(keys.strip(raw.key), raw);
    // grpc-js keeps the response reachable until the callback that delivered it returns, and that
    // is only after every continuation of this read (the consumers' first View) has run: drop the
    // page's keys now, so converted entries do not live alongside them.
    res.kvs.length = 0;
    if (!more) return { revision, pages };
  }
}

/**
 * {@link readRange} with the Concord's page size, retried with its reconnect backoff for as long
 * as etcd is unreachable. Rejects at once with any other error, and with the signal's reason
 * once `signal` aborts (no timer is left behind).
 */
export function readRangeRetrying(
  runtime: Runtime,
  range: EtcdRange,
  signal: AbortSignal,
): Promise<RangeSnapshot>;
/** {@link readRangeRetrying}, keeping `convert(kv)` for each key instead of the KeyValue. */
export function readRangeRetrying<T>(
  runtime: Runtime,
  range: EtcdRange,
  signal: AbortSignal,
  convert: Convert<T>,
): Promise<RangeSnapshot<T>>;
export function readRangeRetrying<T>(
  runtime: Runtime,
  range: EtcdRange,
  signal: AbortSignal,
  convert?: Convert<T>,
): Promise<RangeSnapshot<T | KeyValue>> {
  const keep: Convert<T | KeyValue> = convert ?? asRead;
  const { etcd, keys, hubSettings } = runtime;
  return retryRead(runtime, signal, () => readRange(etcd, keys, range, hubSettings.pageSize, keep));
}

/** {@link readRangeRetrying}, into a {@link RangeList} of `convert(kv)` for each key. */
export function readListRetrying<T>(
  runtime: Runtime,
  range: EtcdRange,
  signal: AbortSignal,
  convert: Convert<T>,
): Promise<RangeList<T>> {
  const { etcd, keys, hubSettings } = runtime;
  return retryRead(runtime, signal, async () => {
    const list: RangeList<T> = { revision: 0n, keys: [], values: [], pages: 0 };
    const visit = (key: string, raw: RangeKv) => {
      list.keys.push(key);
      list.values.push(convert(key, raw));
    };
    const { revision, pages } = await readPages(etcd, keys, range, hubSettings.pageSize, visit, undefined);
    list.revision = revision;
    list.pages = pages;
    return list;
  });
}

/** `read`, retried while etcd is unreachable (see {@link readRangeRetrying}). */
function retryRead<R>(runtime: Runtime, signal: AbortSignal, read: () => Promise<R>): Promise<R> {
  return retryTransient(runtime, 'reading a watched range', signal, async () => {
    let result: R;
    try {
      result = await read();
    } catch (err) {
      // Connection evidence for state$, as the hub's own streams give.
      if (isTransient(err) && !signal.aborted) runtime.monitor.report(false, err);
      throw err;
    }
    signal.throwIfAborted();
    runtime.monitor.report(true);
    return result;
  });
}
