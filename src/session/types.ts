import type { SessionLostError } from '../errors.js';

/**
 * Where a session stands. `alive` carries the local deadline (epoch ms) until which the lease was
 * known to exist when the session became alive; `expiring` means renewals are overdue or the
 * keepalive stream is down (the lease still exists until `expiresAt`); `lost` and `closed` are
 * final. `state$` emits a new state only when the status changes: keepalives keep moving the
 * deadline without an emission, so read the current one from `session.expiresAt`.
 */
export type SessionState =
  | { status: 'alive'; expiresAt: number }
  | { status: 'expiring'; expiresAt: number }
  | { status: 'lost'; reason: SessionLostError }
  | { status: 'closed' };

/** Options of `concord.session()`. */
export interface SessionOptions {
  /** Lease time-to-live in seconds: an integer >= 2. Default 10. */
  ttl?: number;
}

/** What `concord.sessionStats()` reports. */
export interface SessionStats {
  /** Sessions kept alive now: lost and closed ones are not counted. */
  open: number;
  /** The smallest `timeLeft()` among them, in ms; undefined when none is open. */
  shortestTimeLeftMs: number | undefined;
}
