import {
  catchError,
  defer,
  EmptyError,
  filter,
  first,
  firstValueFrom,
  fromEvent,
  map,
  NEVER,
  type Observable,
  race,
  type Subscription,
} from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { ClosedError, RolloutRejectedError } from '../errors.js';
import { hubOf } from '../watch/hub.js';
import { type CachedView, mapFold } from '../watch/view-cache.js';
import { type InstanceReport, type StatusEntry, statusProjection } from './status.js';
import type { RolloutRejection, RolloutStatus } from './types.js';

/**
 * Where an instance stands with `revision`, from its last report. Applying any revision at or
 * after `revision` counts as having applied it (a later revision supersedes it, and a write that
 * changed nothing for the instance leaves it on a config that includes it); a rejection counts
 * when the config has been invalid for the instance since `revision` or earlier.
 */
export function standing(report: InstanceReport, revision: bigint): 'applied' | 'rejected' | 'pending' {
  if (report.status === 'applied') return report.revision >= revision ? 'applied' : 'pending';
  if (report.applied !== undefined && report.applied >= revision) return 'applied';
  return report.revision >= revision ? 'rejected' : 'pending';
}

/** The rollout of `revision` over the status keys in `entries` (instances sorted by id). */
export function tally(revision: bigint, entries: Iterable<StatusEntry>): RolloutStatus {
  const applied: string[] = [];
  const rejected: RolloutRejection[] = [];
  const pending: string[] = [];
  const sorted = [...entries].sort((a, b) =>
    a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0,
  );
  for (const { instance, report } of sorted) {
    // Not a report (written by something else): not an instance a rollout can count.
    if (report === undefined) continue;
    const where = standing(report, revision);
    if (where === 'applied') applied.push(instance);
    else if (where === 'pending') pending.push(instance);
    else if (report.status === 'rejected') {
      const { issues, key } = report;
      rejected.push(
        Object.freeze({ instance, revision: report.revision, issues, ...(key === undefined ? {} : { key }) }),
      );
    }
  }
  return Object.freeze({
    revision,
    applied: Object.freeze(applied),
    rejected: Object.freeze(rejected),
    pending: Object.freeze(pending),
  });
}

/** True when two tallies of the same revision list the same instances the same way. */
export function sameTally(a: RolloutStatus, b: RolloutStatus): boolean {
  const same = (x: readonly string[], y: readonly string[]) =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    same(a.applied, b.applied) &&
    same(a.pending, b.pending) &&
    a.rejected.length === b.rejected.length &&
    a.rejected.every(
      (r, i) => r.instance === b.rejected[i]!.instance && r.revision === b.rejected[i]!.revision,
    )
  );
}

/**
 * The rollout side of one LiveConfig: follows the status area of its prefix through the hub's
 * shared view (one read and one server-side watch per area for the whole Concord). The view is
 * held from the first question until {@link close}, so that later questions (typically one per
 * write) are answered from the cache at once and see each report as it lands, rather than paying
 * a read and a new server-side watch per write.
 */
export class RolloutTracker {
  readonly #view$: Observable<CachedView<StatusEntry>>;
  #held: Subscription | undefined;
  #closed = false;

  constructor(runtime: Runtime, area: string) {
    this.#view$ = defer(() => hubOf(runtime).folded(area, mapFold(statusProjection(area))));
  }

  /**
   * `LiveConfig.rollout$`: the tally of `revision`, on subscribe and after every change of the
   * area, skipping tallies equal to the one before.
   */
  rollout$(revision: bigint): Observable<RolloutStatus> {
    if (!this.#held && !this.#closed) {
      // Failing (e.g. permission denied) reaches every rollout$ subscriber; the next question retries.
      this.#held = this.#view$.subscribe({ error: () => this.#drop(), complete: () => this.#drop() });
    }
    return defer(() => {
      let last: RolloutStatus | undefined;
      return this.#view$.pipe(
        map((view) => tally(revision, view.entries.values())),
        filter((status) => {
          const fresh = last === undefined || !sameTally(last, status);
          last = status;
          return fresh;
        }),
      );
    });
  }

  /** Stops holding the area's view (rollout$ subscribers keep theirs). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#drop();
  }

  #drop(): void {
    this.#held?.unsubscribe();
    this.#held = undefined;
  }
}

/** Options of {@link rolledOut}, checked by the caller. */
export interface RolledOutWait {
  instances: number | undefined;
  signal: AbortSignal | undefined;
}

/**
 * `LiveConfig.rolledOut`: resolves with the first tally in which `instances` instances applied
 * `revision` (without `instances`: at least one, and every instance alive at the time), rejects
 * with `RolloutRejectedError` at the first tally with a rejection, with the signal's reason when
 * it aborts, and with `ClosedError` when the Concord closes first.
 */
export async function rolledOut(
  status$: Observable<RolloutStatus>,
  wait: RolledOutWait,
): Promise<RolloutStatus> {
  const { instances, signal } = wait;
  signal?.throwIfAborted();
  const done = (s: RolloutStatus) =>
    instances === undefined ? s.applied.length > 0 && s.pending.length === 0 : s.applied.length >= instances;
  const settled$ = status$.pipe(
    first((s) => s.rejected.length > 0 || done(s)),
    map((s) => {
      if (s.rejected.length > 0) throw rejection(s);
      return s;
    }),
    catchError((err: unknown) => {
      throw err instanceof EmptyError ? new ClosedError('config.rolledOut: the Concord was closed') : err;
    }),
  );
  const aborted$ = signal
    ? fromEvent(signal, 'abort').pipe(
        map(() => {
          throw signal.reason;
        }),
      )
    : NEVER;
  return firstValueFrom(race(settled$, aborted$));
}

function rejection(status: RolloutStatus): RolloutRejectedError {
  const who = status.rejected.map((r) => `${r.instance} (${r.issues.join('; ')})`).join(', ');
  return new RolloutRejectedError(
    `config revision ${status.revision} was rejected by ${status.rejected.length === 1 ? 'instance' : 'instances'} ${who}`,
    status,
  );
}
