import type { ConcordErrorCode } from '../errors.js';

// The event union stands below every layer that emits it (core included), so it names its
// fields with literal types of its own instead of importing the upper layers' types; each
// emission point assigns its own state type to these fields, so tsc reports any drift.

/** Fields every {@link ConcordEvent} carries. */
export interface EventBase {
  /** When it happened: epoch milliseconds (`Date.now()`). */
  at: number;
}

/** The lock primitives: a mutex, one side of a read-write lock, a semaphore permit. */
export type LockPrimitive = 'mutex' | 'rwlock' | 'semaphore';

/** Which lock an event is about. `mode` is set for a read-write lock only. */
export interface LockSubject {
  primitive: LockPrimitive;
  /** The name given to `concord.mutex(name)` / `rwlock(name)` / `semaphore(name)`. */
  name: string;
  mode?: 'read' | 'write';
}

/**
 * Why a held lock or leadership ended without being given up: `session` (its session was lost or
 * closed under it), `deleted` (its key was deleted or replaced by someone else), `unwatched` (its
 * key could no longer be watched; leaderships only), `refused` (a guarded write found the key gone).
 */
export type LossReason = 'session' | 'deleted' | 'unwatched' | 'refused';

/** A lock acquisition put its key in the queue and waits for its turn. */
export interface LockWaitingEvent extends EventBase, LockSubject {
  type: 'lock.waiting';
  /** The acquisition's own queue key (namespace stripped). */
  key: string;
}

/** A lock acquisition got the lock, `waitMs` after `lock()` / `acquire()` / `read()` / `write()` was called. */
export interface LockAcquiredEvent extends EventBase, LockSubject {
  type: 'lock.acquired';
  key: string;
  fencingToken: bigint;
  waitMs: number;
}

/** A waiting acquisition gave up without the lock (cancelled, its session lost, etcd unreachable, Concord closed). */
export interface LockAbandonedEvent extends EventBase, LockSubject {
  type: 'lock.abandoned';
  key: string;
  waitMs: number;
  /** The code of the error the wait ended with (e.g. `LOCK_LOST`, `NOT_CONNECTED`, `CLOSED`), `ABORTED` for the caller's signal. */
  reason: string;
}

/** A held lock was released on purpose, `holdMs` after it was acquired. */
export interface LockReleasedEvent extends EventBase, LockSubject {
  type: 'lock.released';
  key: string;
  fencingToken: bigint;
  holdMs: number;
}

/** A held lock was lost (see {@link LossReason}) `holdMs` after it was acquired. */
export interface LockLostEvent extends EventBase, LockSubject {
  type: 'lock.lost';
  key: string;
  fencingToken: bigint;
  holdMs: number;
  reason: LossReason;
}

/** A campaign put its candidate key in the election's queue. */
export interface ElectionCampaignEvent extends EventBase {
  type: 'election.campaign';
  name: string;
  key: string;
}

/** A campaign won, `waitMs` after it started. */
export interface ElectionElectedEvent extends EventBase {
  type: 'election.elected';
  name: string;
  key: string;
  term: bigint;
  waitMs: number;
}

/** A campaign ended before it won (unsubscribed, its session lost, etcd unreachable, Concord closed). */
export interface ElectionAbandonedEvent extends EventBase {
  type: 'election.abandoned';
  name: string;
  key: string;
  waitMs: number;
  /** As in {@link LockAbandonedEvent}. */
  reason: string;
}

/** A leader of this process resigned, `holdMs` after it was elected. */
export interface ElectionResignedEvent extends EventBase {
  type: 'election.resigned';
  name: string;
  key: string;
  term: bigint;
  holdMs: number;
}

/** A leadership of this process was lost, `holdMs` after it was elected. */
export interface ElectionLostEvent extends EventBase {
  type: 'election.lost';
  name: string;
  key: string;
  term: bigint;
  holdMs: number;
  reason: LossReason;
}

/**
 * The leader of an election changed, as observed through `election.leader$` (emitted while
 * something subscribes to it; once per change for every subscriber of one Election). `key` and
 * `term` are undefined when nobody leads. The leader's value is not carried (values may be secret).
 */
export interface LeaderChangedEvent extends EventBase {
  type: 'leader.changed';
  name: string;
  key: string | undefined;
  term: bigint | undefined;
}

/** The status of a session: alive, expiring (renewals overdue), lost or closed. */
export type SessionStatus = 'alive' | 'expiring' | 'lost' | 'closed';

/**
 * A session was granted (`alive`) or changed status. `timeLeftMs` is its lease budget at that
 * moment; `rttMs` the round trip of its last answered keepalive, when there was one.
 */
export interface SessionStateEvent extends EventBase {
  type: 'session.state';
  leaseId: string;
  /** The TTL etcd granted, in seconds. */
  ttl: number;
  status: SessionStatus;
  timeLeftMs: number;
  rttMs?: number;
  /** Why a session was lost: `lease-gone` (etcd no longer has it) or `deadline` (no keepalive answered in time). */
  reason?: 'lease-gone' | 'deadline';
}

/** etcd answered a keepalive of a session: its round trip and the lease budget it leaves. */
export interface SessionKeepaliveEvent extends EventBase {
  type: 'session.keepalive';
  leaseId: string;
  rttMs: number;
  timeLeftMs: number;
}

/** A watched range: `{ key }` or `{ prefix }`, as the caller named it (namespace stripped). */
export type EventRange = { key: string } | { prefix: string };

/** The watch stream opened for the first time (or again after the hub stopped needing one). */
export interface WatchConnectedEvent extends EventBase {
  type: 'watch.connected';
  /** Server-side watches it carries once created. */
  watches: number;
}

/** The watch stream opened again after a failure, `downMs` after it failed; every watch resumes. */
export interface WatchReconnectedEvent extends EventBase {
  type: 'watch.reconnected';
  watches: number;
  downMs: number;
}

/** The watch stream was silent for `silentMs` (even to a progress request) and is reset. */
export interface WatchStalledEvent extends EventBase {
  type: 'watch.stalled';
  silentMs: number;
}

/**
 * etcd compacted history a watch had not delivered yet: the hub re-read the range (`keys` keys in
 * `pages` pages) at `revision` and delivered a `resync` batch.
 */
export interface WatchResyncEvent extends EventBase {
  type: 'watch.resync';
  range: EventRange;
  keys: number;
  pages: number;
  revision: bigint;
  compactRevision: bigint;
}

/** Why scoped work (`whileHeld`, `whileLeader`) was asked to stop. */
export type WorkStopCause = 'budget-low' | 'lost' | 'unsubscribed' | 'closing';

/** What scoped work runs under: a lock (see {@link LockSubject}) or an election. */
export interface WorkSubject {
  primitive: LockPrimitive | 'election';
  name: string;
  mode?: 'read' | 'write';
  key: string;
}

/** Scoped work's signal aborted: it is asked to stop (`cause`), and its key is given up once it returned. */
export interface WorkStoppingEvent extends EventBase, WorkSubject {
  type: 'work.stopping';
  cause: WorkStopCause;
}

/** Scoped work's lease budget fell under its margin: `timeLeftMs` were left. Followed by `work.stopping`. */
export interface WorkBudgetLowEvent extends EventBase, WorkSubject {
  type: 'work.budget-low';
  timeLeftMs: number;
  marginMs: number;
}

/**
 * Scoped work overran: its key was given up `waitedMs` after the work was asked to stop while it
 * still ran (`why`: the drain timeout passed, or the lease ran low or was gone).
 */
export interface WorkDrainTimeoutEvent extends EventBase, WorkSubject {
  type: 'work.drain-timeout';
  waitedMs: number;
  why: string;
}

/** The status of a service registration. */
export type RegistrationStatus = 'registered' | 'draining' | 'reregistering' | 'deregistered';

/** A registration changed state (also when first registered). */
export interface RegistrationStateEvent extends EventBase {
  type: 'registration.state';
  service: string;
  id: string;
  key: string;
  status: RegistrationStatus;
  /** The lease it is registered under (`registered`, `draining`). */
  leaseId?: string;
  /** The code of the error that made it re-register (`reregistering`), e.g. `SESSION_LOST`. */
  reason?: string;
}

/** A picker ejected an instance for `forMs` after errors in a row. */
export interface InstanceEjectedEvent extends EventBase {
  type: 'instance.ejected';
  service: string;
  id: string;
  key: string;
  forMs: number;
}

/** A picker took an ejected instance back: its time was up, it was re-registered, or the cap forced it. */
export interface InstanceRestoredEvent extends EventBase {
  type: 'instance.restored';
  service: string;
  id: string;
  key: string;
  reason: 'expired' | 'rewritten' | 'cap';
}

/** A live config found its prefix valid at `revision` (`changed`: its value changed). */
export interface ConfigAppliedEvent extends EventBase {
  type: 'config.applied';
  prefix: string;
  revision: bigint;
  changed: boolean;
}

/**
 * A live config rejected its prefix at `revision` and keeps the last valid value. `key` is the key
 * below the prefix at fault, when known; `issues` how many problems the validator found (their
 * texts are on `config.errors$`: they may quote values).
 */
export interface ConfigRejectedEvent extends EventBase {
  type: 'config.rejected';
  prefix: string;
  revision: bigint;
  key?: string;
  issues: number;
}

/** The connection state (`concord.state$`) changed. */
export interface ConnectionStateEvent extends EventBase {
  type: 'connection.state';
  state: 'connecting' | 'connected' | 'disconnected' | 'closed';
}

/**
 * A unary etcd call failed (after the `policies.global` retries): `code` is the concord error it
 * stands for (`UNKNOWN` when none fits), `error` the class name of the error etcd3 raised.
 */
export interface CallFailedEvent extends EventBase {
  type: 'call.failed';
  code: ConcordErrorCode | 'UNKNOWN';
  error: string;
}

/**
 * What happens inside a Concord, as `concord.events$` reports it: one union discriminated by
 * `type`. Every event carries `at` and names what it is about (lock, election, lease, range,
 * service, prefix); none carries a credential, a key's value or TLS material.
 */
export type ConcordEvent =
  | LockWaitingEvent
  | LockAcquiredEvent
  | LockAbandonedEvent
  | LockReleasedEvent
  | LockLostEvent
  | ElectionCampaignEvent
  | ElectionElectedEvent
  | ElectionAbandonedEvent
  | ElectionResignedEvent
  | ElectionLostEvent
  | LeaderChangedEvent
  | SessionStateEvent
  | SessionKeepaliveEvent
  | WatchConnectedEvent
  | WatchReconnectedEvent
  | WatchStalledEvent
  | WatchResyncEvent
  | WorkStoppingEvent
  | WorkBudgetLowEvent
  | WorkDrainTimeoutEvent
  | RegistrationStateEvent
  | InstanceEjectedEvent
  | InstanceRestoredEvent
  | ConfigAppliedEvent
  | ConfigRejectedEvent
  | ConnectionStateEvent
  | CallFailedEvent;

/** The `type` of every {@link ConcordEvent}. */
export type ConcordEventType = ConcordEvent['type'];

/** The member of {@link ConcordEvent} whose `type` is `T`: `EventOf<'lock.acquired'>`. */
export type EventOf<T extends ConcordEventType> = Extract<ConcordEvent, { type: T }>;
