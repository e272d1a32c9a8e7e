import { randomUUID } from 'node:crypto';
import { BehaviorSubject, Observable, type Subscription } from 'rxjs';
import { sleep } from '../core/abort.js';
import { errorText } from '../core/error-text.js';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkSegment, checkTtl, isPlainObject } from '../core/validate.js';
import { ClosedError, InstanceRemovedError, InvalidArgumentError, SessionLostError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import { leaseCompare } from '../etcd/txn.js';
import { Session, sessionFor } from '../session/session.js';
import { hubOf } from '../watch/hub.js';
import type { WatchBatch } from '../watch/types.js';
import { type ServicePrefixOptions, servicePrefix } from './discovery.js';
import { isAddress } from './record.js';

/** The instance `register()` announces. */
export interface InstanceRegistration {
  /** Service name: one key segment (non-empty, no `/`). */
  service: string;
  /** Where clients reach the instance, e.g. `10.0.0.5:9000` or a URL: non-empty, no whitespace. */
  address: string;
  /** Instance id, unique within the service: one key segment. Default: a random UUID. */
  id?: string;
  /** Anything JSON-serializable that consumers should know (zone, version, weight...). */
  meta?: Record<string, unknown>;
}

/** Options of `register()`. */
export interface RegisterOptions {
  /**
   * Register under this session's lease instead of one the registration creates (and revokes on
   * deregister). If that session is lost or closed while the instance is registered, the
   * registration continues under a session of its own with the same TTL.
   */
  session?: Session;
  /** TTL in seconds of the session the registration creates (integer >= 2). Default: the session default (10). */
  ttl?: number;
}

/** What `update()` changes; omitted fields keep their value. */
export interface InstanceUpdate {
  address?: string;
  meta?: Record<string, unknown>;
}

/**
 * Where a registration stands:
 * - `registered`: the instance key exists under lease `leaseId`, last written at `revision`
 *   (emitted again after every `update()` and every re-registration);
 * - `reregistering`: the session's lease was lost (expired while the process was paused or cut
 *   off, or etcd lost its data), or someone else deleted the instance key; the
 *   instance is written again (under a new lease if the old one is gone) as soon as etcd
 *   answers. `reason` says why: a {@link SessionLostError} or an {@link InstanceRemovedError};
 * - `deregistered`: `deregister()` (or `concord.close()`) removed the instance; final.
 */
export type RegistrationState =
  | { status: 'registered'; leaseId: string; revision: bigint }
  | { status: 'reregistering'; reason: Error }
  | { status: 'deregistered' };

/** The value stored at the instance key. */
interface StoredValue {
  address: string;
  meta?: Record<string, unknown>;
  registeredAt: string;
}

/**
 * Announces service instances under `<prefix><service>/<instanceId>`, each bound to a session
 * lease so that an instance whose process dies disappears within the lease TTL.
 */
export class Registry {
  /** The prefix instances are written under. */
  readonly prefix: string;
  /** Registrations of this registry by key, from the start of `register()` until deregistered. */
  private readonly active = new Map<string, Registration | 'pending'>();

  /** @internal Use `concord.registry()`. */
  constructor(
    private readonly runtime: Runtime,
    options?: ServicePrefixOptions,
  ) {
    this.prefix = servicePrefix(options);
  }

  /**
   * Writes the instance as JSON `{ address, meta?, registeredAt }` under a session lease and
   * resolves once it is stored. The registration keeps it there: after losing the session it
   * re-registers under a new lease by itself (see {@link RegistrationState}); `deregister()`
   * removes it. Rejects with {@link InvalidArgumentError}, before anything is written, on a bad
   * argument or when this registry already holds a registration with the same service and id.
   * An instance key another process wrote is overwritten (last registration wins).
   */
  async register(instance: InstanceRegistration, options?: RegisterOptions): Promise<Registration> {
    checkOptions('instance', instance, ['service', 'address', 'id', 'meta']);
    if (instance === undefined) throw new InvalidArgumentError('instance', 'is required');
    checkSegment('instance.service', instance.service);
    const id = instance.id ?? randomUUID();
    checkSegment('instance.id', id);
    checkAddress('instance.address', instance.address);
    checkMeta('instance.meta', instance.meta);
    checkOptions('options', options, ['session', 'ttl']);
    checkTtl('options.ttl', options?.ttl);
    const key = `${this.prefix}${instance.service}/${id}`;
    const value: StoredValue = { address: instance.address, registeredAt: isoNow() };
    if (instance.meta !== undefined) value.meta = instance.meta;
    assertFits(
      instance.service.length >= id.length ? 'instance.service' : 'instance.id',
      this.runtime.keys.key(key),
    );
    assertFits('instance.meta', this.runtime.keys.key(key), encode(value));
    this.runtime.assertOpen('registry.register');
    if (this.active.has(key)) {
      throw new InvalidArgumentError(
        'instance.id',
        `must be unique in this registry: service '${instance.service}' already has a registration with this id`,
        id,
      );
    }
    this.active.set(key, 'pending');
    try {
      const { session, owned } = await sessionFor(this.runtime, options ?? {}, 'registry.register');
      let revision: bigint;
      try {
        revision = await putInstance(this.runtime, key, value, session.leaseId);
      } catch (err) {
        if (owned) await session.close().catch(() => undefined);
        throw toConcordError(err, 'registry.register');
      }
      const registration = new Registration(this.runtime, {
        service: instance.service,
        id,
        key,
        value,
        session,
        owned,
        revision,
        release: (r) => {
          if (this.active.get(key) === r) this.active.delete(key);
        },
      });
      this.active.set(key, registration);
      return registration;
    } catch (err) {
      this.active.delete(key);
      throw err;
    }
  }
}

interface RegistrationInit {
  service: string;
  id: string;
  key: string;
  value: StoredValue;
  session: Session;
  owned: boolean;
  /** Revision of the first write. */
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

  private readonly state: BehaviorSubject<RegistrationState>;
  private value: StoredValue;
  private session: Session;
  private owned: boolean;
  private readonly release: (registration: Registration) => void;
  /** Tail of the chain that serializes every write of the instance key. */
  private writes: Promise<unknown> = Promise.resolve();
  private recovering: Promise<void> | undefined;
  private lostSubscription: Subscription | undefined;
  private keySubscription: Subscription | undefined;
  private readonly stopping = new AbortController();
  private deregistering: Promise<void> | undefined;
  private readonly untrack: () => void;

  /** @internal Use `Registry.register`. */
  constructor(
    private readonly runtime: Runtime,
    init: RegistrationInit,
  ) {
    this.service = init.service;
    this.id = init.id;
    this.key = init.key;
    this.value = init.value;
    this.session = init.session;
    this.owned = init.owned;
    this.release = init.release;
    this.state = new BehaviorSubject<RegistrationState>({
      status: 'registered',
      leaseId: init.session.leaseId,
      revision: init.revision,
    });
    this.state$ = new Observable<RegistrationState>((subscriber) => {
      // A completed BehaviorSubject replays nothing: hand out the final state explicitly.
      if (this.state.value.status === 'deregistered') {
        subscriber.next(this.state.value);
        subscriber.complete();
        return undefined;
      }
      return this.state.subscribe(subscriber);
    });
    this.untrack = runtime.track({ close: () => this.deregister() });
    this.followSession();
    this.followKey(init.revision);
  }

  /** The address currently announced. */
  get address(): string {
    return this.value.address;
  }

  /** The metadata currently announced. */
  get meta(): Record<string, unknown> | undefined {
    return this.value.meta;
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
    if (this.deregistering) throw new ClosedError('registration.update: the instance is deregistered');
    const value: StoredValue = { ...this.value };
    if (changes.address !== undefined) value.address = changes.address;
    if (changes.meta !== undefined) value.meta = changes.meta;
    assertFits('changes.meta', this.runtime.keys.key(this.key), encode(value));
    this.value = value;
    if (this.state.value.status !== 'registered') return;
    const session = this.session;
    let revision: bigint;
    try {
      revision = await this.write();
    } catch (err) {
      throw toConcordError(err, 'registration.update');
    }
    if (this.state.value.status === 'registered' && this.session === session) this.registered(revision);
  }

  /**
   * Removes the instance at once (a delete guarded by its lease, so an instance someone else
   * registered under the same key is left alone), stops re-registering and revokes the session
   * the registration created. Idempotent; later calls return the first call's promise.
   */
  deregister(): Promise<void> {
    this.deregistering ??= this.stop();
    return this.deregistering;
  }

  /** Same as {@link deregister}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.deregister();
  }

  private async stop(): Promise<void> {
    this.stopping.abort();
    this.lostSubscription?.unsubscribe();
    this.keySubscription?.unsubscribe();
    this.untrack();
    this.release(this);
    await this.recovering;
    await this.writes;
    try {
      await this.runtime.etcd.kv.txn({
        compare: [leaseCompare(this.runtime, this.key, this.session.leaseId)],
        success: [{ request_delete_range: { key: this.runtime.keys.key(this.key) } }],
        failure: [],
      });
    } catch (err) {
      throw toConcordError(err, 'registration.deregister');
    } finally {
      if (this.owned) await this.session.close().catch(() => undefined);
      this.state.next({ status: 'deregistered' });
      this.state.complete();
    }
  }

  /** Puts the current value under the current session's lease, after any write already queued. */
  private write(): Promise<bigint> {
    // Value and lease are read when the write runs, so a queued write never stores stale values.
    const run = () => putInstance(this.runtime, this.key, this.value, this.session.leaseId);
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => undefined);
    return result;
  }

  private registered(revision: bigint): void {
    this.state.next({ status: 'registered', leaseId: this.session.leaseId, revision });
    this.followSession();
    this.followKey(revision);
  }

  /** Watches the instance key after our write at `revision`, to notice anyone else removing it. */
  private followKey(revision: bigint): void {
    const session = this.session;
    this.keySubscription?.unsubscribe();
    this.keySubscription = hubOf(this.runtime)
      .watch({ key: this.key }, { fromRevision: revision + 1n })
      .subscribe({
        next: (batch) => {
          if (deleted(batch, this.key)) void this.onKeyDeleted(session);
        },
        error: (err: unknown) =>
          this.runtime.log.warn('registration can no longer watch its key', {
            key: this.key,
            error: errorText(err),
          }),
      });
  }

  private followSession(): void {
    const session = this.session;
    this.lostSubscription?.unsubscribe();
    // A session closed under a live registration is treated like a lost one: the instance must
    // stay registered until deregister(). state$ replays a final state to late subscribers.
    this.lostSubscription = session.state$.subscribe((state) => {
      if (state.status === 'lost' || state.status === 'closed') this.onLost(session);
    });
  }

  /**
   * Someone deleted the instance key. If etcd dropped the whole lease (revoked, expired), that
   * is a lost session; otherwise the key alone went, and is written again under the same lease.
   */
  private async onKeyDeleted(session: Session): Promise<void> {
    let leaseExists = true;
    try {
      const res = await this.runtime.etcd.leaseClient.leaseTimeToLive({ ID: session.leaseId });
      leaseExists = Number(res.TTL) > 0;
    } catch {
      // Unknown: write again; a write under a lease etcd no longer has reports it (see recover).
    }
    if (leaseExists) {
      this.reregister(session, new InstanceRemovedError(`registration ${this.key}: the key was deleted`));
    } else {
      session.leaseGone();
    }
  }

  private onLost(session: Session): void {
    const reason = new SessionLostError(
      `registration ${this.key}: session ${session.leaseId} was ${session.isLost ? 'lost' : 'closed'}`,
    );
    this.reregister(session, reason);
  }

  /** Starts writing the instance again, unless that is under way or no longer wanted. */
  private reregister(session: Session, reason: Error): void {
    if (
      session !== this.session ||
      this.state.value.status !== 'registered' ||
      this.stopping.signal.aborted ||
      this.runtime.closed
    ) {
      return;
    }
    this.lostSubscription?.unsubscribe();
    this.lostSubscription = undefined;
    this.keySubscription?.unsubscribe();
    this.keySubscription = undefined;
    this.runtime.log.warn('registration lost its key; re-registering', {
      key: this.key,
      reason: reason.message,
    });
    this.state.next({ status: 'reregistering', reason });
    const recovering = this.recover();
    this.recovering = recovering;
    const clear = () => {
      if (this.recovering === recovering) this.recovering = undefined;
    };
    recovering.then(clear, clear);
  }

  /** Writes the instance again under a new session, retrying until it succeeds or the registration stops. */
  private async recover(): Promise<void> {
    const signal = this.stopping.signal;
    let backoff = this.runtime.reconnectBackoff.next(undefined);
    while (!signal.aborted && !this.runtime.closed) {
      try {
        if (!this.session.isAlive) {
          const lost = this.session;
          const wasOwned = this.owned;
          this.session = await Session.create(this.runtime, { ttl: lost.ttl });
          this.owned = true;
          if (wasOwned) void lost.close().catch(() => undefined);
          // deregister() waits for this method, then deletes the key and closes the new session.
          if (signal.aborted) return;
        }
        this.value = { ...this.value, registeredAt: isoNow() };
        const revision = await this.write();
        // The new session may have been lost already while the write was under way.
        if (!this.session.isAlive) continue;
        this.runtime.log.info('registration re-registered', { key: this.key, leaseId: this.session.leaseId });
        this.registered(revision);
        return;
      } catch (err) {
        if (signal.aborted || this.runtime.closed) return;
        // The lease went while we were writing under it: the next attempt takes a new session.
        if (toConcordError(err, '') instanceof SessionLostError) this.session.leaseGone();
        this.runtime.log.warn('re-registration failed; retrying', {
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

function checkAddress(argument: string, address: unknown): asserts address is string {
  if (typeof address !== 'string' || !isAddress(address)) {
    throw new InvalidArgumentError(
      argument,
      'must be a non-empty address of at most 2048 characters without whitespace, control characters or {}",',
      address,
    );
  }
}

function checkMeta(argument: string, meta: unknown): void {
  if (meta === undefined) return;
  if (!isPlainObject(meta)) throw new InvalidArgumentError(argument, 'must be an object', meta);
  let json: string | undefined;
  try {
    json = JSON.stringify(meta);
  } catch {
    json = undefined;
  }
  // A round trip must give back an object, or discovery would read something else than was given.
  if (json === undefined || !isPlainObject(JSON.parse(json))) {
    throw new InvalidArgumentError(argument, 'must be JSON-serializable (no cycles, no bigint)');
  }
}

/** Puts the instance value under `leaseId`; resolves with the revision of the write. */
async function putInstance(
  runtime: Runtime,
  key: string,
  value: StoredValue,
  leaseId: string,
): Promise<bigint> {
  const res = await runtime.etcd.kv.put({ key: runtime.keys.key(key), value: encode(value), lease: leaseId });
  return BigInt(res.header.revision);
}

/** True when `batch` shows `key` gone: deleted, or missing from a resync snapshot. */
function deleted(batch: WatchBatch, key: string): boolean {
  if (batch.type === 'resync') return !batch.snapshot.has(key);
  return batch.type === 'events' && batch.events.some((e) => e.type === 'delete' && e.kv.key === key);
}

function encode(value: StoredValue): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function isoNow(): string {
  return new Date().toISOString();
}
