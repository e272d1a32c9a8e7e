import type { Runtime } from '../core/runtime.js';
import type { WatchRange } from '../watch/types.js';
import type { QueueSpace } from './keys.js';
import { keysAhead, type QueueEntry, type Seen } from './keys-ahead.js';
import { type DropWatch, waitDeleted, waitForDeletes } from './wait-deletes.js';

/**
 * How a wait for the turn ended: `drop` drops the watch it kept (see `waitForDeletes`); `front`,
 * when set, is a revision at which the wait itself proved the contender at the front with its own
 * key intact, so no look is needed before it goes.
 */
export interface TurnWaited {
  readonly drop: DropWatch;
  readonly front?: bigint | undefined;
}

/**
 * Where a contender stands: its key is gone (`lost`), it is at the front (no `wait`; `revision`
 * is the revision of that check), or it must `wait` for something before looking again.
 */
export type Turn =
  | { lost: true }
  | { lost: false; revision: bigint; wait?: (signal: AbortSignal) => Promise<TurnWaited> };

/** A queue's rule for when an entry's turn has come, decided from the entries ahead of it. */
export interface TurnOf {
  /** The space whose older entries decide. */
  readonly space: QueueSpace;
  /** How many of the newest older entries the rule needs (0: all). */
  readonly limit: number;
  /** Where `own` stands, given `seen`: the entries ahead of it at a revision its key existed at. */
  decide(runtime: Runtime, own: QueueEntry, seen: Seen): Turn;
}

/**
 * Where `own` stands by `rule`: from `seen` when given (a look the caller already made, at a
 * revision `own` existed at), otherwise from one guarded look at the queue.
 */
export async function lookTurn(runtime: Runtime, own: QueueEntry, rule: TurnOf, seen?: Seen): Promise<Turn> {
  const ahead = seen ?? (await keysAhead(runtime, own, rule.space, rule.limit));
  return ahead.lost ? ahead : rule.decide(runtime, own, ahead);
}

/**
 * The turn of a contender that may go once no entry of `space` is older than its own (a mutex,
 * an election, either side of a read-write lock with the space it yields to). It waits on the
 * newest such entry only, so a release wakes only the waiter directly behind it, and then looks
 * again (a waiter ahead may have given up while an older one still holds). Next in line (the
 * only entry ahead is the one it waits on) it needs no second look: see {@link nextInLine}.
 */
export function newestAhead(space: QueueSpace): TurnOf {
  return {
    space,
    limit: 1,
    decide(runtime, own, { revision, entries, complete }) {
      const blocker = entries[0];
      if (!blocker) return { lost: false, revision };
      if (complete && entries.length === 1 && own.key.startsWith(space.prefix)) {
        return {
          lost: false,
          revision,
          wait: (signal) => nextInLine(runtime, space, blocker, own, revision, signal),
        };
      }
      return { lost: false, revision, wait: (signal) => waitDeleted(runtime, blocker.key, revision, signal) };
    },
  };
}

/**
 * The wait of the entry right behind `blocker`, the only entry ahead of `own` at `revision`
 * (entries only ever get newer, so none can come between). One watch of the prefix sees both keys
 * in revision order, so the revision at which `blocker` is deleted while `own` is still there is
 * the front, exact: the look a wait is otherwise followed by (a Txn round trip on the handoff's
 * path) would only repeat it. When the watch could not see everything since `revision` (etcd
 * compacted, or a read had to cover a late start), the contender looks again as usual. Only the
 * entry next in line watches the prefix, so every other waiter still wakes only for the key
 * directly ahead of it (herd-freedom); the prefix watch is shared with the Concord's other
 * subscribers of it (an observer of the election).
 */
async function nextInLine(
  runtime: Runtime,
  space: QueueSpace,
  blocker: QueueEntry,
  own: QueueEntry,
  revision: bigint,
  signal: AbortSignal,
): Promise<TurnWaited> {
  return fewerOlder(runtime, space.prefix, [blocker], own, 1, revision, signal, { key: blocker.key });
}

/**
 * The turn of a contender that may go once fewer than `permits` entries of `space` are older
 * than its own (a semaphore). Since entries only ever become newer, that count never grows again,
 * which is what bounds the holders. Any release can free a permit, so the wait follows the whole
 * prefix (one shared watch per Concord through the hub) and counts the older entries that go,
 * without re-reading.
 */
export function fewerAhead(space: QueueSpace, permits: number): TurnOf {
  const { prefix } = space;
  return {
    space,
    limit: 0,
    decide(runtime, own, { revision, entries }) {
      if (entries.length < permits) return { lost: false, revision };
      return {
        lost: false,
        revision,
        // Done once fewer than `permits` older keys remain, or the contender's own key went (the
        // next look at the queue then reports it lost). Every older entry is watched, so a watch
        // that saw everything also proves the front, as for the entry next in line.
        wait: (signal) => fewerOlder(runtime, prefix, entries, own, permits, revision, signal),
      };
    },
  };
}

/**
 * Watches the deletes under `prefix` until fewer than `permits` of `older` (the entries ahead of
 * `own` at `revision`) remain, or `own` itself went. One watch sees them all in revision order, so
 * when it saw every change since `revision` and `own` is still there, the revision at which enough
 * went is the front. `check`: see `waitForDeletes`.
 */
async function fewerOlder(
  runtime: Runtime,
  prefix: string,
  older: readonly QueueEntry[],
  own: QueueEntry,
  permits: number,
  revision: bigint,
  signal: AbortSignal,
  check?: WatchRange,
): Promise<TurnWaited> {
  const waited = await waitForDeletes(
    runtime,
    { prefix },
    new Set([...older.map((e) => e.key), own.key]),
    (remaining) => !remaining.has(own.key) || remaining.size - 1 < permits,
    revision,
    signal,
    check,
  );
  return { drop: waited.drop, front: waited.remaining.has(own.key) ? waited.exactAt : undefined };
}
