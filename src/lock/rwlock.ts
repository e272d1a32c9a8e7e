import type { Observable } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import {
  acquire,
  checkPrimitive,
  type LockOptions,
  type LockPrimitiveOptions,
  newestAhead,
  tryEnter,
} from './acquire.js';
import { LockHandle } from './handle.js';
import { holdWhile } from './hold.js';

/**
 * A distributed read-write lock named `name`: any number of readers share it, a writer holds
 * it alone, and everyone is served in arrival order (create revision), so a waiting writer is
 * never starved by readers that came after it.
 *
 * Key layout: readers put `<name>/read/<lease id hex>-<n>`, writers `<name>/write/<lease id
 * hex>-<n>`, each unique to one acquisition and carried by its session's lease. A reader holds
 * once no writer key older than its own exists (it waits on the newest such writer only); a
 * writer holds once no key at all under `<name>/` is older than its own (it waits on the
 * newest older key of either kind, then looks again). A writer's `fencingToken` exceeds the
 * token of every earlier reader and writer. Keys of other data must not live under `<name>/`.
 */
export class RWLock {
  readonly #runtime: Runtime;
  readonly #options: LockPrimitiveOptions;
  readonly #prefix: string;
  readonly #readers: string;
  readonly #writers: string;
  readonly #name: string;

  /** @internal Use `concord.rwlock(name, options)`. Validates eagerly. */
  constructor(runtime: Runtime, name: string, options?: LockPrimitiveOptions) {
    this.#options = checkPrimitive(runtime, name, options);
    this.#runtime = runtime;
    this.#name = name;
    this.#prefix = `${name}/`;
    this.#readers = `${name}/read/`;
    this.#writers = `${name}/write/`;
  }

  /** Waits for a shared (read) hold: behind every writer that asked earlier. Same cancellation and loss rules as `mutex.lock()`. */
  read(options?: LockOptions): Promise<LockHandle> {
    return this.#acquire(this.#readers, this.#writers, `rwlock "${this.#name}" (read)`, options);
  }

  /** Waits for the exclusive (write) hold: behind every reader and writer that asked earlier. */
  write(options?: LockOptions): Promise<LockHandle> {
    return this.#acquire(this.#writers, this.#prefix, `rwlock "${this.#name}" (write)`, options);
  }

  /** Takes a read hold only if no writer holds or waits, without waiting; otherwise writes nothing and resolves to undefined. */
  async tryRead(): Promise<LockHandle | undefined> {
    const what = `rwlock "${this.#name}" (read)`;
    const entered = await tryEnter(this.#runtime, this.#options, what, this.#readers, this.#writers);
    return entered && new LockHandle(entered.contender, entered.revision);
  }

  /** Takes the write hold only if nobody holds or waits, without waiting; otherwise writes nothing and resolves to undefined. */
  async tryWrite(): Promise<LockHandle | undefined> {
    const what = `rwlock "${this.#name}" (write)`;
    const entered = await tryEnter(this.#runtime, this.#options, what, this.#writers, this.#prefix);
    return entered && new LockHandle(entered.contender, entered.revision);
  }

  /** {@link read} as an Observable: acquire on subscribe, error LockLostError on loss, release on unsubscribe. */
  read$(): Observable<LockHandle> {
    return holdWhile(this.#runtime, (signal) => this.read({ signal }));
  }

  /** {@link write} as an Observable: acquire on subscribe, error LockLostError on loss, release on unsubscribe. */
  write$(): Observable<LockHandle> {
    return holdWhile(this.#runtime, (signal) => this.write({ signal }));
  }

  #acquire(
    keyPrefix: string,
    blockers: string,
    what: string,
    options: LockOptions | undefined,
  ): Promise<LockHandle> {
    return acquire(this.#runtime, this.#options, what, keyPrefix, newestAhead(blockers), options);
  }
}
