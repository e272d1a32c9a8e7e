import type { Observable } from 'rxjs';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkSegment, checkSignal } from '../core/validate.js';
import { ClosedError, LockLostError } from '../errors.js';
import type { LockSubject } from '../events/types.js';
import { Contender, type Entry } from '../queue/contender.js';
import { holdWhile } from '../queue/hold-while.js';
import { type QueueSpace, UNIQUE_KEYS } from '../queue/keys.js';
import { countEntries } from '../queue/keys-ahead.js';
import { scopeSettings, whileHolding } from '../queue/scoped-work.js';
import type { TurnOf } from '../queue/turn.js';
import type { ScopedWork } from '../queue/work-term.js';
import { DEFAULT_TTL } from '../session/session.js';
import { checkSessionChoice } from '../session/session-choice.js';
import { createLockHandle, type LockHandle } from './handle.js';
import type { LockOptions, LockPrimitiveOptions, WhileHeldOptions } from './types.js';

/** Validates a lock primitive's name and options at construction, before anything is written. */
export function checkPrimitive(
  runtime: Runtime,
  name: unknown,
  options: unknown,
  extra: readonly string[] = [],
): LockPrimitiveOptions {
  // One segment: a name containing '/' would nest inside another lock's queue ('jobs' behind 'jobs/a').
  checkSegment('name', name);
  checkOptions('options', options, ['session', 'ttl', ...extra]);
  const opts = (options ?? {}) as LockPrimitiveOptions;
  checkSessionChoice(opts);
  // The longest key a contender writes is a read-write lock's writer key.
  assertFits('name', runtime.keys.key(UNIQUE_KEYS.longest(`${name}/write/`)));
  return opts;
}

/** Where one queue of a lock primitive lives and how its turn comes. */
export interface QueuePlace {
  /** Names the primitive in errors and logs: `mutex "jobs"`. */
  readonly what: string;
  /** Names the primitive (and the side of a read-write lock) in `concord.events$`. */
  readonly subject: LockSubject;
  /** The prefix each acquisition puts its key under. */
  readonly prefix: string;
  /** The whole primitive's keys (both queues of a read-write lock): guarded writes stay out. */
  readonly space: QueueSpace;
  readonly turnOf: TurnOf;
}

/**
 * One queue of a lock primitive (a mutex, one side of a read-write lock, a semaphore): each
 * acquisition puts its own key under `place.prefix` and holds once `place.turnOf` says so. Hands
 * out {@link LockHandle}s; every loss is a {@link LockLostError}.
 */
export class LockQueue {
  readonly #runtime: Runtime;
  readonly #entry: Entry<LockLostError>;
  readonly #turnOf: TurnOf;

  constructor(runtime: Runtime, options: LockPrimitiveOptions, place: QueuePlace) {
    const { what, subject, prefix, space, turnOf } = place;
    this.#runtime = runtime;
    this.#turnOf = turnOf;
    this.#entry = {
      terms: {
        what,
        subject: { kind: 'lock', ...subject },
        lost: (message, cause) => new LockLostError(message, cause === undefined ? undefined : { cause }),
        released: () => new ClosedError(`${what}: released`),
        unwatchedIsLoss: false,
        space,
      },
      prefix,
      naming: UNIQUE_KEYS,
      value: Buffer.alloc(0),
      session: options,
    };
  }

  /**
   * One waiting acquisition: validates `options`, enters the queue, waits for its turn and hands
   * out the lock. A failed or cancelled wait has taken its key out of the queue again.
   */
  async wait(options: unknown): Promise<LockHandle> {
    checkOptions('options', options, ['signal']);
    const signal = (options as LockOptions | undefined)?.signal;
    checkSignal('options.signal', signal);
    const contender = await Contender.enter(this.#runtime, this.#entry, signal, this.#turnOf);
    return createLockHandle(contender, await contender.waitTurn(this.#turnOf));
  }

  /** Takes the lock only if no queue entry is in `free`, without waiting; otherwise writes nothing. */
  async tryEnter(free: QueueSpace): Promise<LockHandle | undefined> {
    const contender = await Contender.enterIfFree(this.#runtime, this.#entry, free);
    // The create revision proves the key existed then, with nothing ahead of it.
    return contender && createLockHandle(contender, contender.createRevision);
  }

  /**
   * Enters, looks at the queue once and takes the lock only if that puts it at the front;
   * otherwise leaves again. With a session of its own it does not even enter (nor grant a lease)
   * while `fullAt` or more entries are in the queue.
   */
  async tryTurn(fullAt: number): Promise<LockHandle | undefined> {
    const { session, terms } = this.#entry;
    if (
      session.session === undefined &&
      (await countEntries(this.#runtime, terms.space, fullAt, terms.what)).count >= fullAt
    ) {
      return undefined;
    }
    const contender = await Contender.enter(this.#runtime, this.#entry, undefined, this.#turnOf);
    const revision = await contender.tryTurn(this.#turnOf);
    return revision === undefined ? undefined : createLockHandle(contender, revision);
  }

  /**
   * Runs `work` while holding (see `Mutex.whileHeld`). Checks `work` and `options` before
   * anything is written; the default margin follows the TTL of the session that holds.
   */
  whileHeld<T>(work: ScopedWork<LockHandle, T>, options?: WhileHeldOptions): Observable<T> {
    const { session, ttl } = this.#entry.session;
    const settings = scopeSettings(work, options, session?.ttl ?? ttl ?? DEFAULT_TTL, [
      'marginMs',
      'drainTimeoutMs',
    ]);
    const { what, subject } = this.#entry.terms;
    return whileHolding(
      this.#runtime,
      {
        what,
        subject,
        acquire: (signal) => this.wait({ signal }),
        release: (handle) => handle.release(),
        lost: (message) => new LockLostError(message),
      },
      work,
      settings,
    );
  }

  /** {@link wait} as an Observable: acquire on subscribe, error LockLostError on loss, release on unsubscribe. */
  hold$(): Observable<LockHandle> {
    return holdWhile(this.#runtime, (signal) => this.wait({ signal }), {
      end: (handle) => handle.release(),
      completeOnEnd: false,
    });
  }
}
