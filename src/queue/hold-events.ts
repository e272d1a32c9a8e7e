import { performance } from 'node:perf_hooks';
import type { EventBus } from '../core/events.js';
import { ConcordError } from '../errors.js';
import type { LockSubject, LossReason } from '../events/types.js';
import type { HoldSubject } from './terms.js';

// The `concord.events$` of a queue entry's life: waiting, then acquired (elected) or abandoned,
// then released (resigned) or lost. Locks and elections share the queue, so each function
// speaks for both; every one returns at once while nobody observes the events.

/** Elapsed ms since `since` (a `performance.now()` time), to the microsecond. */
export function msSince(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}

function lockFields(subject: LockSubject): LockSubject {
  const { primitive, name, mode } = subject;
  return mode === undefined ? { primitive, name } : { primitive, name, mode };
}

/** The entry's key is in the queue; its turn has not come yet. */
export function emitWaiting(events: EventBus, subject: HoldSubject, key: string): void {
  if (!events.observed) return;
  if (subject.kind === 'election') events.emit({ type: 'election.campaign', name: subject.name, key });
  else events.emit({ type: 'lock.waiting', ...lockFields(subject), key });
}

/** The entry holds, `startedAt` being when it was asked for. */
export function emitAcquired(
  events: EventBus,
  subject: HoldSubject,
  hold: { key: string; token: bigint },
  startedAt: number,
): void {
  if (!events.observed) return;
  const { key, token } = hold;
  const waitMs = msSince(startedAt);
  if (subject.kind === 'election') {
    events.emit({ type: 'election.elected', name: subject.name, key, term: token, waitMs });
  } else {
    events.emit({ type: 'lock.acquired', ...lockFields(subject), key, fencingToken: token, waitMs });
  }
}

/** A wait ended without holding, with `error`; `aborted` when the caller's signal (or a stop) ended it. */
export function emitAbandoned(
  events: EventBus,
  subject: HoldSubject,
  wait: { key: string; startedAt: number },
  error: unknown,
  aborted: boolean,
): void {
  if (!events.observed) return;
  const { key } = wait;
  const waitMs = msSince(wait.startedAt);
  const reason = error instanceof ConcordError ? error.code : aborted ? 'ABORTED' : 'UNKNOWN';
  if (subject.kind === 'election') {
    events.emit({ type: 'election.abandoned', name: subject.name, key, waitMs, reason });
  } else {
    events.emit({ type: 'lock.abandoned', ...lockFields(subject), key, waitMs, reason });
  }
}

/** A hold that began at `heldAt` ended: given up (`lost` undefined) or lost. */
export function emitEnded(
  events: EventBus,
  subject: HoldSubject,
  hold: { key: string; token: bigint },
  heldAt: number,
  lost: LossReason | undefined,
): void {
  if (!events.observed) return;
  const { key, token } = hold;
  const holdMs = msSince(heldAt);
  if (subject.kind === 'election') {
    const { name } = subject;
    if (lost === undefined) events.emit({ type: 'election.resigned', name, key, term: token, holdMs });
    else events.emit({ type: 'election.lost', name, key, term: token, holdMs, reason: lost });
  } else {
    const fields = { ...lockFields(subject), key, fencingToken: token, holdMs };
    if (lost === undefined) events.emit({ type: 'lock.released', ...fields });
    else events.emit({ type: 'lock.lost', ...fields, reason: lost });
  }
}
