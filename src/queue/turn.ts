import type { Runtime } from '../core/runtime.js';
import type { QueueSpace } from './keys.js';
import { keysAhead, type QueueEntry, type Seen } from './keys-ahead.js';
import { type DropWatch, waitDeleted, waitForDeletes } from './wait-deletes.js';

/**
 * Where a contender stands: its key is gone (`lost`), it is at the front (no `wait`; `revision`
 * is the revision of that check), or it must `wait` for something before looking again (the
 * wait resolves with the function that drops the watch it kept, see `waitForDeletes`).
 */
export type Turn =
  | { lost: true }
  | { lost: false; revision: bigint; wait?: (signal: AbortSignal) => Promise<DropWatch> };

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
 * again (a waiter ahead may have given up while an older one still holds).
 */
export function newestAhead(space: QueueSpace): TurnOf {
  return {
    space,
    limit: 1,
    decide(runtime, _own, { revision, entries }) {
      const blocker = entries[0];
      if (!blocker) return { lost: false, revision };
      return { lost: false, revision, wait: (signal) => waitDeleted(runtime, blocker.key, revision, signal) };
    },
  };
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
      const older = new Set(entries.map((e) => e.key));
      return {
        lost: false,
        revision,
        // Done once fewer than `permits` older keys remain, or the contender's own key went (the
        // next look at the queue then reports it lost).
        wait: (signal) =>
          waitForDeletes(
            runtime,
            { prefix },
            new Set([...older, own.key]),
            (remaining) => !remaining.has(own.key) || remaining.size - 1 < permits,
            revision,
            signal,
          ),
      };
    },
  };
}
