import type { SessionLostError } from '../errors.js';

/**
 * Where a session stands. `alive` carries the local deadline (epoch ms) until which the lease is
 * known to exist; `expiring` means renewals are overdue or the keepalive stream is down (the
 * lease still exists until `expiresAt`); `lost` and `closed` are final.
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
