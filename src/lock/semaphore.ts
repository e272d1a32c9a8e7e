import type { Observable } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { InvalidArgumentError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { keysAhead, waitForDeletes } from '../queue/queue.js';
import {
  abandon,
  acquire as acquireLock,
  type Contender,
  checkPrimitive,
  enter,
  type LockOptions,
  type LockPrimitiveOptions,
  type Turn,
} from './acquire.js';
import { LockHandle } from './handle.js';
import { holdWhile } from './hold.js';

/** Options of `concord.semaphore(name, options)`. */
export interface SemaphoreOptions extends LockPrimitiveOptions {
  /** How many holders may hold at once: an integer >= 1. Every user of the semaphore must give the same number. */
  permits: number;
}

/**
 * A distributed counting semaphore named `name`: at most `permits` holders at any moment,
 * served in arrival order (create revision).
 *
 * Key layout: each acquisition puts its own key `<name>/<lease id hex>-<n>` with its session's
 * lease. A contender holds once fewer than `permits` keys under `<name>/` are older than its
 * own; since keys only ever become newer, that count never grows again, which is what bounds the
 * holders. Permits come back when a holder releases, and when a holder's session ends (its
 * lease is revoked or expires and etcd deletes the key; a holder whose local deadline passes
 * revokes its lease at once, best effort). Any release can free a permit, so waiters follow
 * `<name>/` (one shared watch per Concord through the hub) and count the older keys that go,
 * without re-reading. Keys of other data must not live under `<name>/`.
 */
export class Semaphore {
  readonly #runtime: Runtime;
  readonly #options: LockPrimitiveOptions;
  readonly #prefix: string;
  readonly #what: string;
  /** The number of permits. */
  readonly permits: number;

  /** @internal Use `concord.semaphore(name, options)`. Validates eagerly. */
  constructor(runtime: Runtime, name: string, options: SemaphoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options', 'must be an object with permits', options);
    }
    const { permits, ...rest } = checkPrimitive(runtime, name, options, ['permits']) as SemaphoreOptions;
    if (typeof permits !== 'number' || !Number.isInteger(permits) || permits < 1) {
      throw new InvalidArgumentError('options.permits', 'must be an integer >= 1', permits);
    }
    this.#runtime = runtime;
    this.#options = rest;
    this.permits = permits;
    this.#prefix = `${name}/`;
    this.#what = `semaphore "${name}"`;
  }

  /**
   * Waits for a permit, first come first served. Aborting `options.signal` removes the waiter's
   * key and rejects with the signal's reason; a session lost while waiting rejects at once with
   * {@link LockLostError}.
   */
  acquire(options?: LockOptions): Promise<LockHandle> {
    return acquireLock(this.#runtime, this.#options, this.#what, this.#prefix, this.#turn, options);
  }

  /**
   * Takes a permit only if one is free and nobody waits, without waiting. It puts its key, counts
   * the keys ahead and, when there are `permits` or more, deletes the key again and resolves to
   * undefined (a shared session keeps nothing; a per-acquisition session is not even granted
   * when the semaphore is visibly full).
   */
  async tryAcquire(): Promise<LockHandle | undefined> {
    if (this.#options.session === undefined) {
      const range = this.#runtime.keys.prefixRange(this.#prefix);
      const taken = await this.#runtime.etcd.kv
        .range({ key: range.key, range_end: range.rangeEnd, count_only: true })
        .catch((err: unknown) => {
          throw toConcordError(err, this.#what);
        });
      if (Number(taken.count) >= this.permits) return undefined;
    }
    const contender = await enter(this.#runtime, this.#options, this.#what, this.#prefix, undefined);
    try {
      const turn = await this.#turn(contender);
      if (!turn.lost && !turn.wait) return new LockHandle(contender, turn.revision);
    } catch (err) {
      await abandon(contender);
      throw toConcordError(err, this.#what);
    }
    await abandon(contender);
    return undefined;
  }

  /** {@link acquire} as an Observable: acquire on subscribe, error LockLostError on loss, release on unsubscribe. */
  hold$(): Observable<LockHandle> {
    return holdWhile(this.#runtime, (signal) => this.acquire({ signal }));
  }

  readonly #turn = async (contender: Contender): Promise<Turn> => {
    const ahead = await keysAhead(this.#runtime, contender, this.#prefix, 0);
    if (ahead.lost) return ahead;
    const { revision, entries } = ahead;
    if (entries.length < this.permits) return { lost: false, revision };
    const older = new Set(entries.map((e) => e.key));
    return {
      lost: false,
      revision,
      // Done once fewer than `permits` older keys remain, or the contender's own key went (the
      // next look at the queue then reports it lost).
      wait: (signal) =>
        waitForDeletes(
          this.#runtime,
          { prefix: this.#prefix },
          new Set([...older, contender.key]),
          (remaining) => !remaining.has(contender.key) || remaining.size - 1 < this.permits,
          revision,
          signal,
        ),
    };
  };
}
