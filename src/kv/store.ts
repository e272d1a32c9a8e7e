import { abortable } from '../core/abort.js';
import { assertFits, toBytes } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkSignal } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { txnOnce } from '../etcd/txn-once.js';
import { toKeyValue } from '../watch/decode.js';
import { readRange, resolveRange } from '../watch/range.js';
import type { KeyValue, View } from '../watch/types.js';
import type { KvDeleteResult, KvPutResult, KvReadOptions } from './types.js';

/** Set by KeyValueStore's static block: the one way to construct a KeyValueStore. */
let construct: (runtime: Runtime) => KeyValueStore;

/**
 * Plain reads and writes of single keys under the Concord `namespace` (`concord.kv`): the keys a
 * lock-guarded read-modify-write reads before its `lock.txn()`, in the same keyspace that
 * `txn`, `watch()` and `view()` use. Keys are the caller's names; the namespace is added on the
 * way in and stripped from what comes back. `concord.etcd`, by contrast, is the raw etcd3 client
 * and ignores the namespace.
 *
 * Every call checks its arguments first (`InvalidArgumentError` naming the argument and the
 * rule, nothing sent) and fails with concord's typed errors (`NotConnectedError` when etcd cannot
 * be reached, `PermissionDeniedError`, ...). Reads are linearizable.
 */
export class KeyValueStore {
  readonly #runtime: Runtime;

  static {
    construct = (runtime) => new KeyValueStore(runtime);
  }

  private constructor(runtime: Runtime) {
    this.#runtime = runtime;
  }

  /** The key's current value and revisions, or undefined when it does not exist. */
  async get(key: string, options?: KvReadOptions): Promise<KeyValue | undefined> {
    const etcdKey = this.#key('key', key);
    const signal = readSignal(options);
    const runtime = this.#runtime;
    runtime.assertOpen('kv.get');
    const res = await this.#call('kv.get', signal, runtime.etcd.kv.range({ key: etcdKey }));
    const kv = res.kvs[0];
    return kv && toKeyValue(runtime.keys, kv);
  }

  /**
   * Every key starting with `prefix` (`''`: the whole namespace), as one consistent cut: a
   * {@link View} with the revision it was read at and the keys in key order. A large prefix is
   * read in pages of the Concord's `watch.pageSize` keys, all at that one revision.
   */
  async getPrefix(prefix: string, options?: KvReadOptions): Promise<View> {
    if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', 'must be a string', prefix);
    assertFits('prefix', this.#runtime.keys.key(prefix));
    const signal = readSignal(options);
    const runtime = this.#runtime;
    runtime.assertOpen('kv.getPrefix');
    const range = resolveRange(runtime.keys, { prefix });
    const read = readRange(
      runtime.etcd,
      runtime.keys,
      range,
      runtime.hubSettings.pageSize,
      undefined,
      signal,
    );
    const { revision, entries } = await this.#call('kv.getPrefix', signal, read);
    return { revision, entries };
  }

  /** Writes `value` (a string is stored as UTF-8) at `key`, with no lease; resolves with the write's revision. */
  async put(key: string, value: string | Uint8Array): Promise<KvPutResult> {
    const etcdKey = this.#key('key', key);
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new InvalidArgumentError('value', 'must be a string or Uint8Array', value);
    }
    const bytes = toBytes(value);
    assertFits('value', etcdKey, bytes);
    const runtime = this.#runtime;
    runtime.assertOpen('kv.put');
    const res = await this.#call('kv.put', undefined, runtime.etcd.kv.put({ key: etcdKey, value: bytes }));
    return { revision: BigInt(res.header.revision) };
  }

  /**
   * Deletes `key`. Sent exactly once, so `deleted` is true only if this call deleted it; when the
   * answer is lost the call rejects with `NotConnectedError` (the key may or may not be gone).
   */
  async delete(key: string): Promise<KvDeleteResult> {
    const etcdKey = this.#key('key', key);
    const runtime = this.#runtime;
    runtime.assertOpen('kv.delete');
    const res = await this.#call(
      'kv.delete',
      undefined,
      txnOnce(runtime.etcd, {
        compare: [],
        success: [{ request_delete_range: { key: etcdKey } }],
        failure: [],
      }),
    );
    const deleted = Number(res.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
    return { deleted, revision: BigInt(res.header.revision) };
  }

  /** Checks a key argument and returns its etcd key. */
  #key(argument: string, key: unknown): Buffer {
    if (typeof key !== 'string' || key === '')
      throw new InvalidArgumentError(argument, 'must be a non-empty string', key);
    const etcdKey = this.#runtime.keys.key(key);
    assertFits(argument, etcdKey);
    return etcdKey;
  }

  /** Awaits an etcd call, rejecting early when `signal` aborts; failures become concord errors. */
  async #call<T>(what: string, signal: AbortSignal | undefined, call: Promise<T>): Promise<T> {
    try {
      return await (signal ? abortable(call, signal) : call);
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      throw toConcordError(err, what);
    }
  }
}

/** Checks the options of a read and returns its signal. */
function readSignal(options: KvReadOptions | undefined): AbortSignal | undefined {
  checkOptions('options', options, ['signal']);
  checkSignal('options.signal', options?.signal);
  options?.signal?.throwIfAborted();
  return options?.signal;
}

/** @internal Creates the `concord.kv` of a Concord. */
export function createKeyValueStore(runtime: Runtime): KeyValueStore {
  return construct(runtime);
}
