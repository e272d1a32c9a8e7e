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
  /**
   * Where the candidates' keys live (see {@link ElectionKeyLayout}). Default `'etcd3'`. Use
   * `'go'` to campaign and follow the leader together with Go services (`concurrency.NewElection`)
   * and `etcdctl elect` on the same name.
   */
  layout?: ElectionKeyLayout;
}

/**
 * An election's key layout. `'etcd3'`: `election/<name>/<lease hex>-<n>`, the prefix of etcd3
 * npm's `Election` (a session may campaign several times at once). `'go'`:
 * `<name>/<lease hex>`, the keys of etcd's Go `concurrency.Election` and `etcdctl elect`, which
 * have one key per lease: a session then campaigns once at a time (a second campaign on the same
 * session while one is open errors with `InvalidArgumentError`), and the name may contain `/`.
 * The two layouts never see each other's candidates.
 */
export type ElectionKeyLayout = 'etcd3' | 'go';

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

/** Options of `election.whileLeader()`. */
export interface WhileLeaderOptions {
  /**
   * Stop the work once fewer than this many ms of the lease budget are left without a renewing
   * ack (see `leadership.expiring$`): its signal aborts with a `LeadershipLostError` while still
   * leading, so a work step has this long to stop before etcd could elect anyone else. An integer
   * from 0 to half the lease TTL. Default: a third of the TTL, at most 2000 ms.
   */
  marginMs?: number;
  /**
   * After the work was asked to stop (unsubscribe, `concord.close()`, a loss), how long it may take
   * to return before the leadership is resigned anyway (reported as a `DrainTimeoutError`
   * warning). An integer >= 0. Default 10000.
   */
  drainTimeoutMs?: number;
  /**
   * Campaign again after a loss, and after the work returned by itself (Curator's autoRequeue):
   * the process stays a candidate for as long as the subscription lasts. A loss while waiting is
   * retried at once, an unreachable etcd at the Concord's reconnect backoff. Default false: a loss
   * errors the Observable, a returning work completes it. Errors of the work itself, and a lost
   * shared `session` (nothing left to campaign on: `SessionLostError`), still end it.
   */
  requeue?: boolean;
}
