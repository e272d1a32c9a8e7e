import type { Observable } from 'rxjs';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions } from '../core/validate.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { toConcordError } from '../etcd/translate.js';
import type { Session } from '../session/session.js';
import { InstanceKeeper, putInstance } from './keeper.js';
import { checkAddress, checkMeta, drained, encodeRecord, type InstanceRecord } from './record.js';
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
 *
 * Graceful shutdown: `drain()` (pickers stop choosing the instance), wait for the requests in
 * flight to finish, then `deregister()`.
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
  readonly #keeper: InstanceKeeper;
  readonly #release: (registration: Registration) => void;
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
    this.#release = init.release;
    this.#keeper = new InstanceKeeper(runtime, init);
    this.state$ = this.#keeper.state$;
    this.#untrack = runtime.track({ close: () => this.deregister() });
  }

  /** The address currently announced. */
  get address(): string {
    return this.#keeper.value.address;
  }

  /** The metadata currently announced. */
  get meta(): Record<string, unknown> | undefined {
    return this.#keeper.value.meta;
  }

  /** True once `drain()` was called. */
  get draining(): boolean {
    return this.#keeper.value.status === 'draining';
  }

  /**
   * Changes the announced address and/or metadata in place (same key, same lease) and resolves
   * once etcd stored it. While re-registering, the new values are kept and written by the
   * re-registration, and this resolves at once. If the write fails the promise rejects, and the
   * new values still apply to the next re-registration. A draining instance stays draining.
   */
  async update(changes: InstanceUpdate): Promise<void> {
    checkOptions('changes', changes, ['address', 'meta']);
    if (changes === undefined) throw new InvalidArgumentError('changes', 'is required');
    if (changes.address !== undefined) checkAddress('changes.address', changes.address);
    checkMeta('changes.meta', changes.meta);
    if (this.#deregistering) throw new ClosedError('registration.update: the instance is deregistered');
    const value: InstanceRecord = { ...this.#keeper.value };
    if (changes.address !== undefined) value.address = changes.address;
    if (changes.meta !== undefined) value.meta = changes.meta;
    assertFits('changes.meta', this.#runtime.keys.key(this.key), encodeRecord(value));
    await this.#put(value, 'registration.update');
  }

  /**
   * Marks the instance `draining` in its record (same key, same lease) and resolves once etcd
   * stored it: discovery still lists it (`status: 'draining'`) but pickers stop choosing it as
   * soon as they see the write, so new work goes elsewhere while the work in flight finishes.
   * Then call `deregister()`. Draining is final for this registration: a re-registration after a
   * lost session writes it draining again. While re-registering, this resolves at once (the
   * re-registration writes it draining). Calling it again when drained does nothing.
   */
  async drain(): Promise<void> {
    if (this.#deregistering) throw new ClosedError('registration.drain: the instance is deregistered');
    const value = this.#keeper.value;
    if (value.status === 'draining' && this.#keeper.state.status !== 'registered') return;
    await this.#put(drained(value), 'registration.drain');
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

  async #put(value: InstanceRecord, what: string): Promise<void> {
    try {
      await this.#keeper.put(value);
    } catch (err) {
      throw toConcordError(err, what);
    }
  }

  #stop(): Promise<void> {
    this.#untrack();
    this.#release(this);
    return this.#keeper.stop();
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
