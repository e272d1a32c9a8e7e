import { BehaviorSubject, Observable, type Subscription } from 'rxjs';
import { sleep } from '../core/abort.js';
import { errorText } from '../core/error-text.js';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions } from '../core/validate.js';
import { ClosedError, InstanceRemovedError, InvalidArgumentError, SessionLostError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { leaseCompare } from '../etcd/txn.js';
import { createSession, leaseGone, type Session } from '../session/session.js';
import { hubOf } from '../watch/hub.js';
import type { WatchBatch } from '../watch/types.js';
import { checkAddress, checkMeta, encodeRecord, type InstanceRecord, restamped } from './record.js';
import type { InstanceUpdate, RegistrationState } from './types.js';

/** Set by Registration's static block: the one way to construct a Registration. */
let construct: (runtime: Runtime, init: RegistrationInit) => Registration;

/** What a registration starts from: its first write is done, at `revision`, under `session`. */
interface RegistrationInit {
  service: string;
  id: string;
  key: string;
  value: InstanceRecord;
  session: Session;
  owned: boolean;
  revision: bigint;
  release: (registration: Registration) => void;
}

/**
 * One registered instance. It stays registered until `deregister()`: when its session is lost it
 * writes the instance again under a new session of its own as soon as etcd answers, retrying with
 * the Concord's reconnect backoff, and `state$` shows each step. The same happens when another
 * client deletes the instance key while the session lives (it is written again under the same
 * lease): to take an instance out, stop its process or call `deregister()`. A key overwritten
 * by another registration is left to it (last registration wins, no tug of war).
 * Closed by `concord.close()`.
 */
export class Registration implements AsyncDisposable {
  /** The service name. */
  readonly service: string;
  /** The instance id (generated when `register()` was given none). */
  readonly id: string;
  /** The instance key, `<prefix><service>/<id>` (the Concord namespace not included). */
  readonly key: string;
  /** The current state first, then every change; completes after `deregistered` (late subscribers still get it). */
  readonly state$: Observable<RegistrationState>;

  readonly #runtime: Runtime;
  readonly #state: BehaviorSubject<RegistrationState>;
  #value: InstanceRecord;
  #session: Session;
  #owned: boolean;
  readonly #release: (registration: Registration) => void;
  /** Tail of the chain that serializes every write of the instance key. */
  #writes: Promise<unknown> = Promise.resolve();
  #recovering: Promise<void> | undefined;
  #lostSubscription: Subscription | undefined;
  #keySubscription: Subscription | undefined;
  readonly #stopping = new AbortController();
  #deregistering: Promise<void> | undefined;
  readonly #untrack: () => void;

  static {
    construct = (runtime, init) => new Registration(runtime, init);
  }

  private constructor(runtime: Runtime, init: RegistrationInit) {
    this.#runtime = runtime;
    this.service = init.service;
    this.id = init.id;
    this.key = init.key;
    this.#value = init.value;
    this.#session = init.session;
    this.#owned = init.owned;
    this.#release = init.release;
    this.#state = new BehaviorSubject<RegistrationState>({
      status: 'registered',
      leaseId: init.session.leaseId,
      revision: init.revision,
    });
    this.state$ = new Observable<RegistrationState>((subscriber) => {
      // A completed BehaviorSubject replays nothing: hand out the final state explicitly.
      if (this.#state.value.status === 'deregistered') {
        subscriber.next(this.#state.value);
        subscriber.complete();
        return undefined;
      }
      return this.#state.subscribe(subscriber);
    });
    this.#untrack = runtime.track({ close: () => this.deregister() });
    this.#followSession();
    this.#followKey(init.revision);
  }

  /** The address currently announced. */
  get address(): string {
    return this.#value.address;
  }

  /** The metadata currently announced. */
  get meta(): Record<string, unknown> | undefined {
    return this.#value.meta;
  }

  /**
   * Changes the announced address and/or metadata in place (same key, same lease) and resolves
   * once etcd stored it. While re-registering, the new values are kept and written by the
   * re-registration, and this resolves at once. If the write fails the promise rejects, and the
   * new values still apply to the next re-registration.
   */
  async update(changes: InstanceUpdate): Promise<void> {
    checkOptions('changes', changes, ['address', 'meta']);
    if (changes === undefined) throw new InvalidArgumentError('changes', 'is required');
    if (changes.address !== undefined) checkAddress('changes.address', changes.address);
    checkMeta('changes.meta', changes.meta);
    if (this.#deregistering) throw new ClosedError('registration.update: the instance is deregistered');
    const value: InstanceRecord = { ...this.#value };
    if (changes.address !== undefined) value.address = changes.address;
    if (changes.meta !== undefined) value.meta = changes.meta;
    assertFits('changes.meta', this.#runtime.keys.key(this.key), encodeRecord(value));
    this.#value = value;
    if (this.#state.value.status !== 'registered') return;
    const session = this.#session;
    let revision: bigint;
    try {
      revision = await this.#write();
    } catch (err) {
      throw toConcordError(err, 'registration.update');
    }
    if (this.#state.value.status === 'registered' && this.#session === session) this.#registered(revision);
  }

  /**
   * Removes the instance at once (a delete guarded by its lease, so an instance someone else
   * registered under the same key is left alone), stops re-registering and revokes the session
   * the registration created. Idempotent; later calls return the first call's promise.
   */
  deregister(): Promise<void> {
    this.#deregistering ??= this.#stop();
    return this.#deregistering;
  }

  /** Same as {@link deregister}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.deregister();
  }

  async #stop(): Promise<void> {
    this.#stopping.abort();
    this.#lostSubscription?.unsubscribe();
    this.#keySubscription?.unsubscribe();
    this.#untrack();
    this.#release(this);
    await this.#recovering;
    await this.#writes;
    try {
      await this.#runtime.etcd.kv.txn({
        compare: [leaseCompare(this.#runtime, this.key, this.#session.leaseId)],
        success: [{ request_delete_range: { key: this.#runtime.keys.key(this.key) } }],
        failure: [],
      });
    } catch (err) {
      throw toConcordError(err, 'registration.deregister');
    } finally {
      if (this.#owned) await this.#session.close().catch(() => undefined);
      this.#state.next({ status: 'deregistered' });
      this.#state.complete();
    }
  }

  /** Puts the current value under the current session's lease, after any write already queued. */
  #write(): Promise<bigint> {
    // Value and lease are read when the write runs, so a queued write never stores stale values.
    const run = () => putInstance(this.#runtime, this.key, this.#value, this.#session.leaseId);
    const result = this.#writes.then(run, run);
    this.#writes = result.catch(() => undefined);
    return result;
  }

  #registered(revision: bigint): void {
    this.#state.next({ status: 'registered', leaseId: this.#session.leaseId, revision });
    this.#followSession();
    this.#followKey(revision);
  }

  /** Watches the instance key after our write at `revision`, to notice anyone else removing it. */
  #followKey(revision: bigint): void {
    const session = this.#session;
    this.#keySubscription?.unsubscribe();
    this.#keySubscription = hubOf(this.#runtime)
      .watch({ key: this.key }, { fromRevision: revision + 1n })
      .subscribe({
        next: (batch) => {
          if (deleted(batch, this.key)) void this.#onKeyDeleted(session);
        },
        error: (err: unknown) =>
          this.#runtime.log.warn('registration can no longer watch its key', {
            key: this.key,
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
    let leaseExists = true;
    try {
      const res = await this.#runtime.etcd.leaseClient.leaseTimeToLive({ ID: session.leaseId });
      leaseExists = Number(res.TTL) > 0;
    } catch {
      // Unknown: write again; a write under a lease etcd no longer has reports it (see recover).
    }
    if (leaseExists) {
      this.#reregister(session, new InstanceRemovedError(`registration ${this.key}: the key was deleted`));
    } else {
      leaseGone(session);
    }
  }

  #onLost(session: Session): void {
    const reason = new SessionLostError(
      `registration ${this.key}: session ${session.leaseId} was ${session.isLost ? 'lost' : 'closed'}`,
    );
    this.#reregister(session, reason);
  }

  /** Starts writing the instance again, unless that is under way or no longer wanted. */
  #reregister(session: Session, reason: Error): void {
    if (
      session !== this.#session ||
      this.#state.value.status !== 'registered' ||
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
      key: this.key,
      reason: reason.message,
    });
    this.#state.next({ status: 'reregistering', reason });
    const recovering = this.#recover();
    this.#recovering = recovering;
    const clear = () => {
      if (this.#recovering === recovering) this.#recovering = undefined;
    };
    recovering.then(clear, clear);
  }

  /** Writes the instance again under a new session, retrying until it succeeds or the registration stops. */
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
          // deregister() waits for this method, then deletes the key and closes the new session.
          if (signal.aborted) return;
        }
        this.#value = restamped(this.#value);
        const revision = await this.#write();
        // The new session may have been lost already while the write was under way.
        if (!this.#session.isAlive) continue;
        this.#runtime.log.info('registration re-registered', {
          key: this.key,
          leaseId: this.#session.leaseId,
        });
        this.#registered(revision);
        return;
      } catch (err) {
        if (signal.aborted || this.#runtime.closed) return;
        // The lease went while we were writing under it: the next attempt takes a new session.
        if (toConcordError(err, '') instanceof SessionLostError) leaseGone(this.#session);
        this.#runtime.log.warn('re-registration failed; retrying', {
          key: this.key,
          error: errorText(err),
          retryInMs: backoff.duration,
        });
        // Aborted means deregistering: the loop condition ends it.
        await sleep(backoff.duration, signal).catch(() => undefined);
        backoff = backoff.next(undefined);
      }
    }
  }
}

/**
 * @internal Writes the instance `record` at `key` under the session's lease and returns the
 * {@link Registration} that keeps it there. When the write fails, a session the registration
 * would own is closed and the error is thrown as a concord error.
 */
export async function openRegistration(
  runtime: Runtime,
  init: Omit<RegistrationInit, 'revision'>,
): Promise<Registration> {
  let revision: bigint;
  try {
    revision = await putInstance(runtime, init.key, init.value, init.session.leaseId);
  } catch (err) {
    if (init.owned) await init.session.close().catch(() => undefined);
    throw toConcordError(err, 'registry.register');
  }
  return construct(runtime, { ...init, revision });
}

/** Puts the instance value under `leaseId`; resolves with the revision of the write. */
async function putInstance(
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

/** True when `batch` shows `key` gone: deleted, or missing from a resync snapshot. */
function deleted(batch: WatchBatch, key: string): boolean {
  if (batch.type === 'resync') return !batch.snapshot.has(key);
  return batch.type === 'events' && batch.events.some((e) => e.type === 'delete' && e.kv.key === key);
}
