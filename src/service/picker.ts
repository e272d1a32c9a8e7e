import type { Observable, Subscription } from 'rxjs';
import type { BoundedWait } from '../core/connection.js';
import { checkOptions, checkSignal } from '../core/validate.js';
import { ClosedError } from '../errors.js';
import type { PickStrategy, ServiceInstance } from './types.js';

/** Set by Picker's static block: the one way to construct a Picker. */
let construct: (
  instances$: Observable<readonly ServiceInstance[]>,
  strategy: PickStrategy,
  bounded: BoundedWait,
) => Picker;

/**
 * Chooses one live instance of a service per call. It follows the service from the moment it is
 * created (one shared watch per prefix), so `next()` reflects an instance going down or coming
 * up as soon as etcd reports it. `round-robin` visits instances in key order, each once per
 * round, and after a change continues with the instance after the last one picked; `random`
 * picks uniformly. `next()` returns undefined while no instance is up (including before the
 * first list has loaded: await `ready()` for that). `close()` (or `using`) stops following.
 */
export class Picker implements Disposable {
  #list: readonly ServiceInstance[] = [];
  /** Index in `list` of the round-robin candidate. */
  #cursor = 0;
  #lastKey: string | undefined;
  #loaded = false;
  #failure: unknown;
  readonly #waiters = new Set<() => void>();
  readonly #subscription: Subscription;
  readonly #strategy: PickStrategy;
  readonly #bounded: BoundedWait;

  static {
    construct = (instances$, strategy, bounded) => new Picker(instances$, strategy, bounded);
  }

  private constructor(
    instances$: Observable<readonly ServiceInstance[]>,
    strategy: PickStrategy,
    bounded: BoundedWait,
  ) {
    this.#strategy = strategy;
    this.#bounded = bounded;
    this.#subscription = instances$.subscribe({
      next: (list) => this.#onList(list),
      error: (err: unknown) => this.#stop(err),
      complete: () => this.#stop(new ClosedError('picker: the Concord is closed')),
    });
  }

  /** The instances currently up, in key order. */
  get instances(): readonly ServiceInstance[] {
    return this.#list;
  }

  /** The next instance to use, or undefined when none is up. */
  next(): ServiceInstance | undefined {
    const n = this.#list.length;
    if (n === 0) return undefined;
    if (this.#strategy === 'random') return this.#list[Math.floor(Math.random() * n)];
    if (this.#cursor >= n) this.#cursor = 0;
    const picked = this.#list[this.#cursor++]!;
    this.#lastKey = picked.key;
    return picked;
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
    // Continue after the last instance picked, wherever it now sits (or would sit, if it is gone),
    // so a change neither restarts the round nor skips anyone.
    const last = this.#lastKey;
    this.#cursor = last === undefined ? 0 : firstAfter(list, last);
    if (!this.#loaded) {
      this.#loaded = true;
      this.#wake();
    }
  }

  #stop(reason: unknown): void {
    this.#list = [];
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
  strategy: PickStrategy,
  bounded: BoundedWait,
): Picker {
  return construct(instances$, strategy, bounded);
}

/** Index of the first instance whose key sorts after `key` (binary search; `list` is sorted by key). */
function firstAfter(list: readonly ServiceInstance[], key: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.key <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
