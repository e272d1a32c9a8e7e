import { abortable } from '../core/abort.js';
import { errorText } from '../core/error-text.js';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkSegment, checkSignal } from '../core/validate.js';
import { ClosedError, LockLostError, SessionLostError } from '../errors.js';
import { retryTransient } from '../etcd/retry.js';
import { toConcordError } from '../etcd/translate.js';
import { leaseCompare } from '../etcd/txn.js';
import { createOwnKey, keysAhead, waitDeleted } from '../queue/queue.js';
import { checkSessionChoice, type Session, sessionFor } from '../session/session.js';
import { LockHandle } from './handle.js';

/** Options shared by every lock primitive (`concord.mutex(name, options)` and friends). */
export interface LockPrimitiveOptions {
  /**
   * Session whose lease carries the lock keys. Without it every acquisition grants its own
   * lease (TTL `ttl`) and revokes it on release, so one acquisition's failure never touches another.
   */
  session?: Session;
  /** TTL in seconds (integer >= 2, default 10) of the per-acquisition session. Not allowed with `session`. */
  ttl?: number;
}

/**
 * Options of a waiting acquisition (`lock()`, `read()`, `write()`, `acquire()`).
 *
 * A waiting acquisition outlasts etcd being unreachable: it retries with the Concord's
 * reconnect backoff for as long as its session lives, so a connection cut costs no place in
 * the queue. It rejects with `NotConnectedError` only when the per-acquisition session cannot
 * be created in the first place.
 */
export interface LockOptions {
  /** Aborting cancels the wait, removes the waiter's key and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A key put into a lock's queue: the caller's claim, ordered by its create revision. */
export interface Contender {
  readonly runtime: Runtime;
  readonly what: string;
  readonly session: Session;
  /** Whether the session was created for this acquisition (and ends with it). */
  readonly owned: boolean;
  readonly key: string;
  readonly createRevision: bigint;
}

/**
 * Where a contender stands: its key is gone (`lost`), it is at the front (no `wait`; `revision`
 * is the revision of that check), or it must `wait` for something before looking again.
 */
export type Turn =
  | { lost: true }
  | { lost: false; revision: bigint; wait?: (signal: AbortSignal) => Promise<void> };

let sequence = 0;

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
  // The longest key a contender writes: name + '/write/' + 16 hex digits + '-' + a counter.
  assertFits('name', runtime.keys.key(`${name}/write/${'f'.repeat(16)}-${Number.MAX_SAFE_INTEGER}`));
  return opts;
}

/** Validates the options of a waiting acquisition. */
export function checkLockOptions(options: unknown): AbortSignal | undefined {
  checkOptions('options', options, ['signal']);
  const signal = (options as LockOptions | undefined)?.signal;
  checkSignal('options.signal', signal);
  return signal;
}

/**
 * A key name unique to one acquisition: the lease id in hex (as etcd's Go client names its lock
 * keys, so the queue order interoperates with Go lockers under the same prefix) plus a counter,
 * so two acquisitions on one session are two separate queue entries that exclude each other.
 */
export function uniqueKey(prefix: string, session: Session): string {
  sequence += 1;
  return `${prefix}${BigInt(session.leaseId).toString(16)}-${sequence}`;
}

/**
 * Puts the caller's key (under `keyPrefix`, with the session's lease) at the back of the queue,
 * retrying while etcd is unreachable. Rejects at once when `signal` aborts, the session is lost
 * ({@link LockLostError}) or the Concord closes; a key that still lands afterwards is removed
 * again (an owned session is closed, which takes the key with its lease).
 */
export async function enter(
  runtime: Runtime,
  options: LockPrimitiveOptions,
  what: string,
  keyPrefix: string,
  signal: AbortSignal | undefined,
): Promise<Contender> {
  runtime.assertOpen(what);
  signal?.throwIfAborted();
  const { session, owned } = await sessionFor(runtime, options, what);
  const key = uniqueKey(keyPrefix, session);
  const stop = stopSignal(runtime, session, signal);
  // The key name is unique to this acquisition, so it can only exist on another lease by misuse.
  const putting = retryTransient(runtime, what, stop, () =>
    createOwnKey(runtime, key, Buffer.alloc(0), session.leaseId),
  ).then((createRevision) => {
    if (createRevision === undefined) throw new LockLostError(`${what}: ${key} exists on another lease`);
    return createRevision;
  });
  try {
    const createRevision = await abortable(putting, stop);
    return { runtime, what, session, owned, key, createRevision };
  } catch (err) {
    if (owned) await session.close();
    else
      void putting.then(
        () => withdraw(runtime, key, session),
        () => withdraw(runtime, key, session),
      );
    throw explain(err, what);
  }
}

/**
 * One waiting acquisition: validates `options`, enters the queue under `keyPrefix`, waits for
 * `turnOf` to put it at the front and hands out the lock. A failed or cancelled wait takes the
 * contender out of the queue again before rejecting (see {@link waitTurn} for the reasons).
 */
export async function acquire(
  runtime: Runtime,
  primitive: LockPrimitiveOptions,
  what: string,
  keyPrefix: string,
  turnOf: (contender: Contender) => Promise<Turn>,
  options: unknown,
): Promise<LockHandle> {
  const signal = checkLockOptions(options);
  const contender = await enter(runtime, primitive, what, keyPrefix, signal);
  try {
    return new LockHandle(contender, await waitTurn(contender, turnOf, signal));
  } catch (err) {
    await abandon(contender);
    throw err;
  }
}

/**
 * Waits until `turnOf` reports the contender at the front, waiting as it says in between.
 * Resolves with the
 * revision at which the contender was first found at the front with its own key intact.
 * Rejects at once when `signal` aborts (with its reason), when the session is lost
 * ({@link LockLostError} caused by the {@link SessionLostError}), when the Concord closes
 * ({@link ClosedError}), or when the contender's own key vanished ({@link LockLostError}).
 */
export async function waitTurn(
  contender: Contender,
  turnOf: (contender: Contender) => Promise<Turn>,
  signal: AbortSignal | undefined,
): Promise<bigint> {
  const { runtime, session, what } = contender;
  const combined = stopSignal(runtime, session, signal);
  try {
    for (;;) {
      // Reading isLost checks the local deadline, so a process just resumed from a pause
      // learns of a loss before it trusts anything it read earlier.
      if (session.isLost || combined.aborted) combined.throwIfAborted();
      const turn = await abortable(
        retryTransient(runtime, what, combined, () => turnOf(contender)),
        combined,
      );
      if (turn.lost) throw new LockLostError(`${what}: its key ${contender.key} vanished while waiting`);
      if (!turn.wait) return turn.revision;
      await turn.wait(combined);
    }
  } catch (err) {
    throw explain(err, what);
  }
}

/**
 * The turn of a contender that may go once no key under `prefix` is older than its own. It
 * waits on the newest such key only, so a release wakes only the waiter directly behind it, and
 * then looks again (a waiter ahead may have given up while an older one still holds).
 */
export function newestAhead(prefix: string): (contender: Contender) => Promise<Turn> {
  return async (contender) => {
    const ahead = await keysAhead(contender.runtime, contender, prefix, 1);
    if (ahead.lost) return ahead;
    const { revision } = ahead;
    const blocker = ahead.entries[0];
    if (!blocker) return { lost: false, revision };
    return {
      lost: false,
      revision,
      wait: (signal) => waitDeleted(contender.runtime, blocker.key, revision, signal),
    };
  };
}

/**
 * Puts the caller's key only if no key exists under `emptyPrefix` (one transaction), so a try
 * on a held lock writes nothing and never disturbs the queue. Resolves to the contender, or
 * undefined when the lock was taken (an owned session is closed again then).
 */
export async function tryEnter(
  runtime: Runtime,
  options: LockPrimitiveOptions,
  what: string,
  keyPrefix: string,
  emptyPrefix: string,
): Promise<{ contender: Contender; revision: bigint } | undefined> {
  runtime.assertOpen(what);
  const range = runtime.keys.prefixRange(emptyPrefix);
  if (options.session === undefined) {
    // Cheap pre-check so a try on a held lock does not grant (and revoke) a lease for nothing.
    const taken = await runtime.etcd.kv
      .range({ key: range.key, range_end: range.rangeEnd, count_only: true })
      .catch((err: unknown) => {
        throw toConcordError(err, what);
      });
    if (Number(taken.count) > 0) return undefined;
  }
  const { session, owned } = await sessionFor(runtime, options, what);
  const key = uniqueKey(keyPrefix, session);
  const etcdKey = runtime.keys.key(key);
  try {
    // A range compare holds for every key in the range; on an empty range etcd compares the
    // zero value, so "create revision == 0" means "no key under the prefix".
    const res = await runtime.etcd.kv.txn({
      compare: [
        {
          key: range.key,
          range_end: range.rangeEnd,
          target: 'Create',
          result: 'Equal',
          create_revision: '0',
        },
      ],
      success: [
        { request_put: { key: etcdKey, value: Buffer.alloc(0), lease: session.leaseId, prev_kv: true } },
      ],
      failure: [{ request_range: { key: etcdKey } }],
    });
    // etcd3 retries a call whose answer was lost, so our own key may be there already: an
    // earlier attempt found the prefix empty and took the lock. Its create revision counts.
    const ours = res.succeeded
      ? res.responses[0]?.response_put?.prev_kv
      : res.responses[0]?.response_range?.kvs[0];
    const createRevision = ours
      ? BigInt(ours.create_revision)
      : res.succeeded
        ? BigInt(res.header.revision)
        : undefined;
    if (createRevision === undefined) {
      if (owned) await session.close();
      return undefined;
    }
    const revision = BigInt(res.header.revision);
    return { contender: { runtime, what, session, owned, key, createRevision }, revision };
  } catch (err) {
    if (owned) await session.close();
    else void withdraw(runtime, key, session);
    throw toConcordError(err, what);
  }
}

/**
 * Takes a contender out of the queue after a failed or cancelled wait: closes its own session,
 * or deletes its key. Never throws: a key that cannot be deleted goes with its session's lease.
 */
export async function abandon(contender: Contender): Promise<void> {
  const { runtime, session, owned, key } = contender;
  if (owned) await session.close();
  else await withdraw(runtime, key, session);
}

/** Aborts when the caller's `signal` aborts, the session is lost or ends, or the Concord closes. */
function stopSignal(runtime: Runtime, session: Session, signal: AbortSignal | undefined): AbortSignal {
  return AbortSignal.any(
    signal ? [session.signal, runtime.signal, signal] : [session.signal, runtime.signal],
  );
}

/**
 * Deletes `key` if it is on `session`'s lease. The key name is unique to one acquisition, so
 * the lease proves it is ours even when the put's outcome (and so its create revision) is
 * unknown. Never throws: a key that cannot be deleted goes with the lease.
 */
async function withdraw(runtime: Runtime, key: string, session: Session): Promise<void> {
  if (session.isLost) return;
  try {
    await runtime.etcd.kv.txn({
      compare: [leaseCompare(runtime, key, session.leaseId)],
      success: [{ request_delete_range: { key: runtime.keys.key(key) } }],
      failure: [],
    });
  } catch (err) {
    runtime.log.warn('could not remove a lock waiter key; it goes with its session', {
      key,
      error: errorText(err),
    });
  }
}

/** The error a failed wait reports: a lost session becomes a {@link LockLostError}. */
function explain(err: unknown, what: string): unknown {
  if (err instanceof SessionLostError) {
    return new LockLostError(`${what}: the session was lost while waiting`, { cause: err });
  }
  if (err instanceof ClosedError) return err;
  return toConcordError(err, what);
}
