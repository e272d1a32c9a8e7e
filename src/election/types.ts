import type { Session } from '../session/session.js';

/** Options of `concord.election()`. */
export interface ElectionOptions {
  /**
   * Campaign on this session's lease: losing the session loses the leadership. Default: every
   * campaign creates its own session (revoked when the campaign ends).
   */
  session?: Session;
  /** TTL in seconds of the sessions campaigns create (integer >= 2, default 10). Ignored with `session`. */
  ttl?: number;
}

/**
 * What an observer knows about the current leader of an election. `term` is the create revision
 * of the leader's key: it grows with every new leadership and is the leader's fencing token.
 */
export interface LeaderInfo {
  /** The leader's candidate key (the Concord namespace stripped). */
  readonly key: string;
  /** The value the leader campaigned with, or the last one it proclaimed. */
  readonly value: string;
  /** The create revision of the leader's key: its fencing token. */
  readonly term: bigint;
}
