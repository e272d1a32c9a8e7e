import type { Subscription } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { ClosedError } from '../errors.js';
import { hubOf } from '../watch/hub.js';
import { resolveRange } from '../watch/range.js';
import type { WatchBatch, WatchRange } from '../watch/types.js';

/** Drops the watch a finished wait kept: see {@link waitForDeletes}. */
export type DropWatch = () => void;

/** How a successful {@link waitForDeletes} ended. */
export interface Waited {
  /** Drops the watch the wait kept. */
  readonly drop: DropWatch;
  /** The watched keys still there when it ended. */
  readonly remaining: ReadonlySet<string>;
  /**
   * The revision at which `enough` came to hold, when the watch itself saw every change in its
   * range from the wait's `revision` on: then `remaining` is exact at that revision. Absent when
   * a read or a resync decided instead.
   */
  readonly exactAt?: bigint | undefined;
}

/**
 * Resolves once `key` no longer exists; the caller saw it at `revision`. Watches only that one
 * key, so a release wakes only the waiter behind it. Rejects with the signal's reason when
 * `signal` aborts, and with the watch's error if the watch fails; either way the watch is
 * cancelled. Resolves as {@link waitForDeletes} does.
 */
export function waitDeleted(
  runtime: Runtime,
  key: string,
  revision: bigint,
  signal: AbortSignal,
): Promise<Waited> {
  return waitForDeletes(
    runtime,
    { key },
    new Set([key]),
    (remaining) => remaining.size === 0,
    revision,
    signal,
  );
}

/**
 * Resolves once `enough(remaining)` holds, where `remaining` holds the `keys` (all within
 * `range`, all seen existing at `revision`) not deleted since. Keys only ever leave
 * `remaining`. Same rejection and cleanup rules as {@link waitDeleted}. A successful wait leaves
 * its watch open and resolves with the function that drops it: the caller drops it once its next
 * watch is attached, so a Concord whose only watch this was keeps its watch stream instead of
 * closing it and opening another one on the handoff's path. `check` is the range read when the
 * watch started too late to have seen every change since `revision` (default: `range`); a key
 * outside it counts as still there until the watch sees it go, and the wait is then not exact.
 */
export function waitForDeletes(
  runtime: Runtime,
  range: WatchRange,
  keys: ReadonlySet<string>,
  enough: (remaining: ReadonlySet<string>) => boolean,
  revision: bigint,
  signal: AbortSignal,
  check: WatchRange = range,
): Promise<Waited> {
  return new Promise<Waited>((resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    else {
      const wait = new DeleteWait(runtime, range, check, keys, enough, revision, signal, resolve, reject);
      wait.follow(undefined);
    }
  });
}

/** One {@link waitForDeletes}: the keys still there, the watch that removes them, and how it settles. */
class DeleteWait {
  readonly #remaining: Set<string>;
  #subscription: Subscription | undefined;
  #settled = false;
  #failed = false;
  /** Whether the watch has seen every change in `range` since `revision` (no read, no resync). */
  #exact = true;

  constructor(
    readonly runtime: Runtime,
    readonly range: WatchRange,
    readonly check: WatchRange,
    keys: ReadonlySet<string>,
    readonly enough: (remaining: ReadonlySet<string>) => boolean,
    readonly revision: bigint,
    readonly signal: AbortSignal,
    readonly resolve: (waited: Waited) => void,
    readonly reject: (err: unknown) => void,
  ) {
    this.#remaining = new Set(keys);
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * Watching from `revision + 1` would be exact, but etcd serves a watch that starts in the past
   * from a catch-up loop that runs only every 100 ms, which would delay every handoff. So the
   * watch starts "now" (`fromRevision` undefined). The hub's first progress batch says from which
   * revision on it sees every change: etcd's answer to the create (exact on every etcd version),
   * or what a shared watch of the key already delivered. When that is at or before `revision`
   * nothing can have been missed (the usual case when nothing was written in between); otherwise
   * one read tells which keys went away in between. If that read fails, this falls back to the
   * exact watch from `revision + 1`. (A requested progress answer cannot stand in for the read:
   * it covers only what the watch covers, from its start on.)
   */
  follow(fromRevision: bigint | undefined): void {
    let checked = fromRevision !== undefined;
    this.#subscription?.unsubscribe();
    // Watch create (a message on the Concord's watch stream, not a unary call) for deletes only:
    // the keys waited on can only go away, and new entries queueing behind must not wake anyone.
    this.#subscription = hubOf(this.runtime)
      .watch(this.range, fromRevision === undefined ? undefined : { fromRevision }, { deletesOnly: true })
      .subscribe({
        next: (batch) => {
          if (batch.type !== 'progress') this.#apply(batch);
          else if (!checked) {
            checked = true;
            if (batch.revision > this.revision) this.#check();
          }
        },
        error: (err: unknown) => this.#finish(err),
        complete: () =>
          this.#finish(this.signal.reason ?? new ClosedError('the watch ended: the Concord is closed')),
      });
    // A batch delivered during subscribe may already have failed the wait (a settled success
    // leaves the watch to the caller).
    if (this.#settled && this.#failed) this.#subscription.unsubscribe();
  }

  #apply(batch: Exclude<WatchBatch, { type: 'progress' }>): void {
    if (batch.type === 'resync') {
      this.#exact = false;
      this.#keep((key) => batch.snapshot.has(key));
      return;
    }
    const deleted = new Set(batch.events.filter((e) => e.type === 'delete').map((e) => e.kv.key));
    this.#keep((key) => !deleted.has(key), batch.revision);
  }

  /** Reads which keys exist now, once the watch is established. */
  #check(): void {
    this.#exact = false;
    existing(this.runtime, this.check).then(
      (present) => {
        // The read covers `check` only: a watched key outside it (the waiter's own, next to the
        // key it waits on) is not gone for being absent from it.
        if (!this.#settled) this.#keep((key) => present.has(key) || !within(this.check, key));
      },
      () => {
        if (this.#settled) return;
        // The exact watch from `revision + 1` sees every change by itself again.
        this.#exact = true;
        this.follow(this.revision + 1n);
      },
    );
  }

  /** Drops the keys not `present` (as of `revision`, for a watched batch) and settles once enough went. */
  #keep(present: (key: string) => boolean, revision?: bigint): void {
    for (const key of [...this.#remaining]) if (!present(key)) this.#remaining.delete(key);
    if (this.enough(this.#remaining)) this.#finish(undefined, this.#exact ? revision : undefined);
  }

  readonly #onAbort = () => this.#finish(this.signal.reason);

  #finish(err?: unknown, exactAt?: bigint): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#failed = err !== undefined;
    this.signal.removeEventListener('abort', this.#onAbort);
    if (err === undefined) {
      this.resolve({ drop: () => this.#subscription?.unsubscribe(), remaining: this.#remaining, exactAt });
      return;
    }
    this.#subscription?.unsubscribe();
    this.reject(err);
  }
}

/** Whether `key` (stripped of the namespace, as watched) lies in `range`. */
function within(range: WatchRange, key: string): boolean {
  return 'prefix' in range ? key.startsWith(range.prefix) : key === range.key;
}

/**
 * The keys that exist in `range` now. Round trip (Range), only when something was written between
 * the look and the watch's start: a delete in that gap would otherwise never wake the wait.
 */
async function existing(runtime: Runtime, range: WatchRange): Promise<Set<string>> {
  const { key, rangeEnd } = resolveRange(runtime.keys, range);
  const res = await runtime.etcd.kv.range({
    key,
    ...(rangeEnd ? { range_end: rangeEnd } : {}),
    keys_only: true,
  });
  return new Set(res.kvs.map((kv) => runtime.keys.strip(kv.key)));
}
