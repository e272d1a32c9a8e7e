import type { LockSubject } from '../events/types.js';
import type { QueueSpace } from './keys.js';

/** What a queue's events and scoped work name: a lock primitive (see `LockSubject`) or an election. */
export type HoldSubject = ({ kind: 'lock' } & LockSubject) | { kind: 'election'; name: string };

/**
 * How a primitive built on the queue (a lock, an election) names itself and its losses: the
 * contender and the fenced hold report everything through these, so each primitive's callers see
 * its own typed errors.
 */
export interface QueueTerms<E extends Error> {
  /** Names the primitive in errors and logs: `mutex "jobs"`, `election "leader"`. */
  readonly what: string;
  /** Names the primitive in `concord.events$`. */
  readonly subject: HoldSubject;
  /** The primitive's loss error (`LockLostError`, `LeadershipLostError`) with this message and cause. */
  lost(message: string, cause?: unknown): E;
  /** The reason a hold's `signal` carries once it was released (not lost). */
  released(): Error;
  /**
   * Whether a hold whose own-key watch failed (etcd refused it) counts as lost. When false, the
   * hold relies on its session alone; its guarded writes stay safe either way.
   */
  readonly unwatchedIsLoss: boolean;
  /** The primitive's keys: its queue entries, and nothing a guarded write may touch. */
  readonly space: QueueSpace;
}
