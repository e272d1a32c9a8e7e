import { randomUUID } from 'node:crypto';
import { assertFits } from '../core/keys.js';
import type { Runtime } from '../core/runtime.js';
import { checkOptions, checkSegment, checkTtl } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import { sessionFor } from '../session/session-choice.js';
import { checkAddress, checkMeta, encodeRecord, newRecord, servicePrefix } from './record.js';
import { openRegistration, type Registration } from './registration.js';
import type {
  InstanceRegistration,
  RegisterOptions,
  RegistrationState,
  ServicePrefixOptions,
} from './types.js';

/** Set by Registry's static block: the one way to construct a Registry. */
let construct: (runtime: Runtime, options: ServicePrefixOptions | undefined) => Registry;

/**
 * Announces service instances under `<prefix><service>/<instanceId>`, each bound to a session
 * lease so that an instance whose process dies disappears within the lease TTL.
 */
export class Registry {
  /** The prefix instances are written under. */
  readonly prefix: string;
  readonly #runtime: Runtime;
  /** Registrations of this registry by key, from the start of `register()` until deregistered. */
  readonly #active = new Map<string, Registration | 'pending'>();

  static {
    construct = (runtime, options) => new Registry(runtime, options);
  }

  private constructor(runtime: Runtime, options: ServicePrefixOptions | undefined) {
    this.#runtime = runtime;
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
    const value = newRecord(instance.address, instance.meta);
    assertFits(
      instance.service.length >= id.length ? 'instance.service' : 'instance.id',
      this.#runtime.keys.key(key),
    );
    assertFits('instance.meta', this.#runtime.keys.key(key), encodeRecord(value));
    this.#runtime.assertOpen('registry.register');
    if (this.#active.has(key)) {
      throw new InvalidArgumentError(
        'instance.id',
        `must be unique in this registry: service '${instance.service}' already has a registration with this id`,
        id,
      );
    }
    this.#active.set(key, 'pending');
    try {
      const { session, owned } = await sessionFor(this.#runtime, options ?? {}, 'registry.register');
      const registration = await openRegistration(this.#runtime, {
        service: instance.service,
        id,
        key,
        value,
        session,
        owned,
        release: (r) => {
          if (this.#active.get(key) === r) this.#active.delete(key);
        },
      });
      this.#active.set(key, registration);
      return registration;
    } catch (err) {
      this.#active.delete(key);
      throw err;
    }
  }
}

/** @internal Creates a Registry (`concord.registry()`); validates `options.prefix`. */
export function createRegistry(runtime: Runtime, options?: ServicePrefixOptions): Registry {
  return construct(runtime, options);
}
