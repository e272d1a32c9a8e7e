import type { Observable, Subscription } from 'rxjs';
import type { BoundedWait } from '../core/connection.js';
import type { EventBus } from '../core/events.js';
import type { Log } from '../core/log.js';
import { checkOptions, checkSignal } from '../core/validate.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { findByKey } from './changes.js';
import { Outliers, type RestoreReason } from './outlier.js';
import type { PickerConfig } from './pick-options.js';
import { Rotation } from './rotation.js';
import type { PickOutcome, ServiceInstance } from './types.js';

/** Set by Picker's static block: the one way to construct a Picker. */
let construct: (
  instances$: Observable<readonly ServiceInstance[]>,
  config: PickerConfig,
  context: PickerContext,
) => Picker;

/** What a picker reports to and waits with: the Concord's log, events and bounded waits. */
export interface PickerContext {
  readonly log: Log;
  readonly events: EventBus;
  readonly bounded: BoundedWait;
}

/**
 * Chooses one instance of a service per call. It follows the service from the moment it is
 * created (one shared watch per prefix), so `next()` reflects an instance going down, coming
 * up or draining as soon as etcd reports it.
 *
 * Which instances it picks from: those `serving` (never a draining one) and not ejected; with
 * `prefer: { zone }`, only those whose `meta.zone` is that zone while any of them qualifies.
 * `round-robin` visits them in key order, each once per round, and after a change continues
 * with the instance after the last one picked; `random` picks uniformly. When their
 * `meta.weight`s differ (a number up to 1,000,000; anything else counts as 1), round-robin is
 * smooth weighted round-robin as nginx does it, and random is proportional to the weights.
 *
 * Outlier ejection (on unless `eject: false`): tell the picker how each request went with
 * {@link report}; see `EjectOptions`. `next()` returns undefined while no instance qualifies
 * (including before the first list has loaded: await `ready()` for that). `close()` (or `using`)
 * stops following.
 */
export class Picker implements Disposable {
  #list: readonly ServiceInstance[] = [];
  /** How many of `list` are serving. */
  #serving = 0;
  readonly #rotation: Rotation;
  readonly #outliers: Outliers | undefined;
  readonly #zone: string | undefined;
  readonly #log: Log;
  readonly #events: EventBus;
  #loaded = false;
  #failure: unknown;
  readonly #waiters = new Set<() => void>();
  readonly #subscription: Subscription;
  readonly #bounded: BoundedWait;

  static {
    construct = (instances$, config, context) => new Picker(instances$, config, context);
  }

  private constructor(
    instances$: Observable<readonly ServiceInstance[]>,
    config: PickerConfig,
    context: PickerContext,
  ) {
    this.#bounded = context.bounded;
    this.#events = context.events;
    this.#rotation = new Rotation(config.strategy);
    this.#zone = config.zone;
    this.#log = context.log;
    if (config.eject) {
      this.#outliers = new Outliers(config.eject, () => performance.now(), {
        ejected: (instance, forMs) => this.#ejected(instance, forMs),
        restored: (instance, reason) => this.#restored(instance, reason),
      });
    }
    this.#subscription = instances$.subscribe({
      next: (list) => this.#onList(list),
      error: (err: unknown) => this.#stop(err),
      complete: () => this.#stop(new ClosedError('picker: the Concord is closed')),
    });
  }

  /** Every instance listed (serving or draining, ejected or not), in key order. */
  get instances(): readonly ServiceInstance[] {
    return this.#list;
  }

  /** The next instance to use, or undefined when none qualifies. */
  next(): ServiceInstance | undefined {
    if (this.#outliers?.expire()) this.#rebuild();
    return this.#rotation.next();
  }

  /**
   * Tells the picker how a request to `instance` (as `next()` returned it) went: `'error'` when
   * it failed in a way that says the instance is unwell (refused connection, timeout, 5xx),
   * `'ok'` otherwise. Enough errors in a row eject the instance for a while (see `EjectOptions`).
   * Reports about an instance no longer listed, since rewritten (re-registered, updated) or
   * draining are ignored, as are all reports when ejection is off.
   */
  report(instance: ServiceInstance, outcome: PickOutcome): void {
    if (
      instance === null ||
      typeof instance !== 'object' ||
      typeof instance.key !== 'string' ||
      typeof instance.revision !== 'bigint'
    ) {
      throw new InvalidArgumentError('instance', 'must be a ServiceInstance (with key and revision)');
    }
    if (outcome !== 'ok' && outcome !== 'error') {
      throw new InvalidArgumentError('outcome', "must be 'ok' or 'error'", outcome);
    }
    const outliers = this.#outliers;
    if (!outliers) return;
    const listed = findByKey(this.#list, instance.key);
    if (listed?.revision !== instance.revision || listed.status !== 'serving') return;
    // An ejection that ran out ends first, so the report counts against the instance as it is now.
    const expired = outliers.expire();
    if (outliers.report(listed, outcome) || expired) this.#rebuild();
  }

  /**
   * Resolves once the current instance list has loaded (it may be empty). Rejects when the picker
   * is closed or its watch fails first, with the signal's reason when `signal` aborts, and with
   * `NotConnectedError` when etcd stays unreachable for the Concord's `connectTimeoutMs` (the
   * picker keeps following the service: call `ready()` again to wait more).
   */
  ready(options: { signal?: AbortSignal } = {}): Promise<void> {
    checkOptions('options', options, ['signal']);
    checkSignal('options.signal', options.signal);
    if (this.#loaded) return Promise.resolve();
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    return this.#bounded('picker.ready', options.signal, (signal) => this.#untilLoaded(signal));
  }

  #untilLoaded(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(settle);
        reject(signal.reason);
      };
      const settle = () => {
        signal.removeEventListener('abort', onAbort);
        if (this.#loaded) resolve();
        else reject(this.#failure);
      };
      this.#waiters.add(settle);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops following the service; `next()` returns undefined from now on. Idempotent. */
  close(): void {
    this.#subscription.unsubscribe();
    this.#stop(new ClosedError('picker: closed'));
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #onList(list: readonly ServiceInstance[]): void {
    this.#list = list;
    let serving = 0;
    for (const instance of list) if (instance.status === 'serving') serving++;
    this.#serving = serving;
    this.#outliers?.sync(list, serving);
    this.#rebuild();
    if (!this.#loaded) {
      this.#loaded = true;
      this.#wake();
    }
  }

  /** Recomputes the instances picked from: serving, not ejected, in the preferred zone if any is. */
  #rebuild(): void {
    const outliers = this.#outliers;
    const skip = outliers !== undefined && outliers.ejectedCount > 0;
    // Usually every instance qualifies: then the shared list itself is the pool (no copy).
    const all = !skip && this.#serving === this.#list.length;
    const pool = all
      ? this.#list
      : this.#list.filter(
          (instance) => instance.status === 'serving' && !(skip && outliers.isEjected(instance.key)),
        );
    const zone = this.#zone;
    const local = zone === undefined ? [] : pool.filter((instance) => instance.meta?.zone === zone);
    this.#rotation.reset(local.length > 0 ? local : pool);
  }

  /** An instance was ejected: logged, and an `instance.ejected` event. */
  #ejected(instance: ServiceInstance, forMs: number): void {
    if (this.#events.observed) {
      const { service, id, key } = instance;
      this.#events.emit({ type: 'instance.ejected', service, id, key, forMs });
    }
    this.#log.info('picker ejected an instance after errors in a row', {
      service: instance.service,
      id: instance.id,
      address: instance.address,
      forMs,
    });
  }

  /** An ejection ended: logged, and an `instance.restored` event. */
  #restored(instance: ServiceInstance, reason: RestoreReason): void {
    if (this.#events.observed) {
      const { service, id, key } = instance;
      this.#events.emit({ type: 'instance.restored', service, id, key, reason });
    }
    this.#log.info('picker took an ejected instance back', {
      service: instance.service,
      id: instance.id,
      address: instance.address,
      reason,
    });
  }

  #stop(reason: unknown): void {
    this.#list = [];
    this.#serving = 0;
    this.#rotation.reset([]);
    if (this.#failure === undefined) this.#failure = reason;
    this.#wake();
  }

  #wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const settle of waiters) settle();
  }
}

/** @internal Creates a Picker (`discovery.picker()`) over the instance lists `instances$` emits. */
export function createPicker(
  instances$: Observable<readonly ServiceInstance[]>,
  config: PickerConfig,
  context: PickerContext,
): Picker {
  return construct(instances$, config, context);
}
