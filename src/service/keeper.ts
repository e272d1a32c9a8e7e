import { BehaviorSubject, Observable, type Subscription } from 'rxjs';
import { sleep } from '../core/abort.js';
import { errorText } from '../core/error-text.js';
import type { Runtime } from '../core/runtime.js';
import { InstanceRemovedError, isConcordError, SessionLostError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { leaseCompare } from '../etcd/txn.js';
import { createSession, leaseGone, type Session } from '../session/session.js';
import { hubOf } from '../watch/hub.js';
import type { WatchBatch } from '../watch/types.js';
import { encodeRecord, type InstanceRecord, restamped } from './record.js';
import type { RegistrationState } from './types.js';

/** What a keeper starts from: the record's first write is done, at `revision`, under `session`. */
export interface KeeperInit {
  /** The service and instance id: named in `registration.state` events. */
  service: string;
  id: string;
  key: string;
  value: InstanceRecord;
  session: Session;
  /** Whether the keeper created `session` (and so revokes it when it stops). */
  owned: boolean;
  revision: bigint;
}

/**
 * Keeps one instance record written at its key under a live lease, for a {@link Registration}:
 * it serializes the writes, follows the session and the key, and when either is lost writes the
 * record again (under a new session of its own if the lease is gone) as soon as etcd answers,
 * retrying with the Concord's reconnect backoff. Every change of {@link RegistrationState} goes
 * through `#transition`, the one place an operator-facing `registration.state` event belongs.
 */
export class InstanceKeeper {
  /** The current state first, then every change; completes after `deregistered` (late subscribers still get it). */
  readonly state$: Observable<RegistrationState>;
  readonly #runtime: Runtime;
  readonly #key: string;
  readonly #instance: { service: string; id: string; key: string };
  readonly #state: BehaviorSubject<RegistrationState>;
  #value: InstanceRecord;
  #session: Session;
  #owned: boolean;
  /** Tail of the chain that serializes every write of the instance key. */
  #writes: Promise<unknown> = Promise.resolve();
  #recovering: Promise<void> | undefined;
  #lostSubscription: Subscription | undefined;
  #keySubscription: Subscription | undefined;
  readonly #stopping = new AbortController();

  constructor(runtime: Runtime, init: KeeperInit) {
    this.#runtime = runtime;
    this.#key = init.key;
    this.#instance = { service: init.service, id: init.id, key: init.key };
    this.#value = init.value;
    this.#session = init.session;
    this.#owned = init.owned;
    this.#state = new BehaviorSubject<RegistrationState>(this.#liveState(init.revision));
    this.state$ = new Observable<RegistrationState>((subscriber) => {
      // A completed BehaviorSubject replays nothing: hand out the final state explicitly.
      if (this.#state.value.status === 'deregistered') {
        subscriber.next(this.#state.value);
        subscriber.complete();
        return undefined;
      }
      return this.#state.subscribe(subscriber);
    });
    this.#announce(this.#state.value);
    this.#followSession();
    this.#followKey(init.revision);
  }

  /** The record as it is (or will be, once re-registered) stored. */
  get value(): InstanceRecord {
    return this.#value;
  }

  get state(): RegistrationState {
    return this.#state.value;
  }

  /**
   * Makes `value` the record and writes it at once (same key, same lease) when the instance is
   * registered; while re-registering, the re-registration writes it and this resolves at once.
   * Rejects with the raw etcd error when the write fails (the value still applies to the next
   * re-registration).
   */
  async put(value: InstanceRecord): Promise<void> {
    this.#value = value;
    if (!isLive(this.#state.value)) return;
    const session = this.#session;
    const revision = await this.#write();
    if (isLive(this.#state.value) && this.#session === session) this.#registered(revision);
  }

  /**
   * Stops following and re-registering, waits for writes under way, then deletes the key (guarded
   * by its lease, so an instance someone else registered under the same key is left alone) and
   * revokes the session the keeper created. Ends with `deregistered` even when the delete fails.
   */
  async stop(): Promise<void> {
    // From here on nothing re-registers (see #reregister); the watches are let go after the
    // delete, so that the delete is the first thing sent: consumers see the instance go sooner.
    this.#stopping.abort();
    await this.#recovering;
    await this.#writes;
    try {
      await this.#runtime.etcd.kv.txn({
        compare: [leaseCompare(this.#runtime, this.#key, this.#session.leaseId)],
        success: [{ request_delete_range: { key: this.#runtime.keys.key(this.#key) } }],
        failure: [],
      });
    } catch (err) {
      throw toConcordError(err, 'registration.deregister');
    } finally {
      this.#lostSubscription?.unsubscribe();
      this.#keySubscription?.unsubscribe();
      if (this.#owned) await this.#session.close().catch(() => undefined);
      this.#transition({ status: 'deregistered' });
      this.#state.complete();
    }
  }

  /** The one place the registration's state changes (see the class comment). */
  #transition(state: RegistrationState): void {
    this.#state.next(state);
    this.#announce(state);
  }

  /** A `registration.state` event: the status, with the lease or the code of the reason. */
  #announce(state: RegistrationState): void {
    const { events } = this.#runtime;
    if (!events.observed) return;
    const detail =
      state.status === 'reregistering'
        ? { reason: isConcordError(state.reason) ? state.reason.code : state.reason.name }
        : 'leaseId' in state
          ? { leaseId: state.leaseId }
          : {};
    events.emit({ type: 'registration.state', ...this.#instance, status: state.status, ...detail });
  }

  /** `registered`, or `draining` when the record says so, at `revision` under the current lease. */
  #liveState(revision: bigint): RegistrationState {
    const status = this.#value.status === 'draining' ? 'draining' : 'registered';
    return { status, leaseId: this.#session.leaseId, revision };
  }

  /** Puts the current value under the current session's lease, after any write already queued. */
  #write(): Promise<bigint> {
    // Value and lease are read when the write runs, so a queued write never stores stale values.
    const run = () => putInstance(this.#runtime, this.#key, this.#value, this.#session.leaseId);
    const result = this.#writes.then(run, run);
    this.#writes = result.catch(() => undefined);
    return result;
  }

  #registered(revision: bigint): void {
    this.#transition(this.#liveState(revision));
    this.#followSession();
    this.#followKey(revision);
  }

  /** Watches the instance key after our write at `revision`, to notice anyone else removing it. */
  #followKey(revision: bigint): void {
    const session = this.#session;
    this.#keySubscription?.unsubscribe();
    this.#keySubscription = hubOf(this.#runtime)
      .watch({ key: this.#key }, { fromRevision: revision + 1n })
      .subscribe({
        next: (batch) => {
          if (deleted(batch, this.#key)) void this.#onKeyDeleted(session);
        },
        error: (err: unknown) =>
          this.#runtime.log.warn('registration can no longer watch its key', {
            key: this.#key,
            error: errorText(err),
          }),
      });
  }

  #followSession(): void {
    const session = this.#session;
    this.#lostSubscription?.unsubscribe();
    // A session closed under a live registration is treated like a lost one: the instance must
    // stay registered until deregister(). state$ replays a final state to late subscribers.
    this.#lostSubscription = session.state$.subscribe((state) => {
      if (state.status === 'lost' || state.status === 'closed') this.#onLost(session);
    });
  }

  /**
   * Someone deleted the instance key. If etcd dropped the whole lease (revoked, expired), that
   * is a lost session; otherwise the key alone went, and is written again under the same lease.
   */
  async #onKeyDeleted(session: Session): Promise<void> {
    // Our own delete (stop()) shows up here too: there is nothing to do then.
    if (this.#stopping.signal.aborted) return;
    let leaseExists = true;
    try {
      const res = await this.#runtime.etcd.leaseClient.leaseTimeToLive({ ID: session.leaseId });
      leaseExists = Number(res.TTL) > 0;
    } catch {
      // Unknown: write again; a write under a lease etcd no longer has reports it (see recover).
    }
    if (leaseExists) {
      this.#reregister(session, new InstanceRemovedError(`registration ${this.#key}: the key was deleted`));
    } else {
      leaseGone(session);
    }
  }

  #onLost(session: Session): void {
    const reason = new SessionLostError(
      `registration ${this.#key}: session ${session.leaseId} was ${session.isLost ? 'lost' : 'closed'}`,
    );
    this.#reregister(session, reason);
  }

  /** Starts writing the instance again, unless that is under way or no longer wanted. */
  #reregister(session: Session, reason: Error): void {
    if (
      session !== this.#session ||
      !isLive(this.#state.value) ||
      this.#stopping.signal.aborted ||
      this.#runtime.closed
    ) {
      return;
    }
    this.#lostSubscription?.unsubscribe();
    this.#lostSubscription = undefined;
    this.#keySubscription?.unsubscribe();
    this.#keySubscription = undefined;
    this.#runtime.log.warn('registration lost its key; re-registering', {
      key: this.#key,
      reason: reason.message,
    });
    this.#transition({ status: 'reregistering', reason });
    const recovering = this.#recover();
    this.#recovering = recovering;
    const clear = () => {
      if (this.#recovering === recovering) this.#recovering = undefined;
    };
    recovering.then(clear, clear);
  }

  /** Writes the instance again under a new session, retrying until it succeeds or the keeper stops. */
  async #recover(): Promise<void> {
    const signal = this.#stopping.signal;
    let backoff = this.#runtime.reconnectBackoff.next(undefined);
    while (!signal.aborted && !this.#runtime.closed) {
      try {
        if (!this.#session.isAlive) {
          const lost = this.#session;
          const wasOwned = this.#owned;
          this.#session = await createSession(this.#runtime, { ttl: lost.ttl });
          this.#owned = true;
          if (wasOwned) void lost.close().catch(() => undefined);
          // stop() waits for this method, then deletes the key and closes the new session.
          if (signal.aborted) return;
        }
        this.#value = restamped(this.#value);
        const revision = await this.#write();
        // The new session may have been lost already while the write was under way.
        if (!this.#session.isAlive) continue;
        this.#runtime.log.info('registration re-registered', {
          key: this.#key,
          leaseId: this.#session.leaseId,
        });
        this.#registered(revision);
        return;
      } catch (err) {
        if (signal.aborted || this.#runtime.closed) return;
        // The lease went while we were writing under it: the next attempt takes a new session.
        if (toConcordError(err, '') instanceof SessionLostError) leaseGone(this.#session);
        this.#runtime.log.warn('re-registration failed; retrying', {
          key: this.#key,
          error: errorText(err),
          retryInMs: backoff.duration,
        });
        // Aborted means stopping: the loop condition ends it.
        await sleep(backoff.duration, signal).catch(() => undefined);
        backoff = backoff.next(undefined);
      }
    }
  }
}

/** Puts the instance value under `leaseId`; resolves with the revision of the write. */
export async function putInstance(
  runtime: Runtime,
  key: string,
  value: InstanceRecord,
  leaseId: string,
): Promise<bigint> {
  const res = await runtime.etcd.kv.put({
    key: runtime.keys.key(key),
    value: encodeRecord(value),
    lease: leaseId,
  });
  return BigInt(res.header.revision);
}

/** True while the instance key is written: `registered` or `draining`. */
function isLive(state: RegistrationState): boolean {
  return state.status === 'registered' || state.status === 'draining';
}

/** True when `batch` shows `key` gone: deleted, or missing from a resync snapshot. */
function deleted(batch: WatchBatch, key: string): boolean {
  if (batch.type === 'resync') return !batch.snapshot.has(key);
  return batch.type === 'events' && batch.events.some((e) => e.type === 'delete' && e.kv.key === key);
}
