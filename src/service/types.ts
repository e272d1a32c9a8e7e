import type { Session } from '../session/session.js';

/**
 * Whether an instance takes new work: `serving`, or `draining` (its registration called
 * `drain()`: it finishes what it has and will deregister; pickers no longer choose it).
 */
export type InstanceStatus = 'serving' | 'draining';

/**
 * One live instance of a service as discovery sees it. `key` is the etcd key (the Concord
 * namespace removed) and `revision` the revision that last wrote it, so two objects with the
 * same key and revision describe the same write.
 */
export interface ServiceInstance {
  service: string;
  id: string;
  address: string;
  meta?: Record<string, unknown>;
  /** When the registrant registered (ISO 8601), if its value said so; absent for plain-string values. */
  registeredAt?: string;
  /** `draining` once its registration called `drain()`; values written by other clients are `serving`. */
  status: InstanceStatus;
  key: string;
  revision: bigint;
}

/**
 * A change to the instances of a service. `up`: the instance appeared (also sent for every
 * instance already present when `changes$` is subscribed); `down`: it disappeared (deleted,
 * lease expired, or overwritten with an invalid value), carrying the instance as it was last
 * seen; `update`: its key was written again, carrying the new instance.
 */
export interface ServiceChange {
  type: 'up' | 'down' | 'update';
  instance: ServiceInstance;
}

/**
 * An entry under the registry prefix that discovery skipped: its key does not have the
 * `<prefix><service>/<id>` shape, or its value is neither the registry's JSON nor a plain
 * address. Reported once per write (key and revision) on `Discovery.errors$`.
 */
export interface DiscoveryError {
  /** The etcd key (the Concord namespace removed). */
  key: string;
  /** The revision that wrote the skipped value. */
  revision: bigint;
  /** The raw value. */
  value: Buffer;
  /** Why it was skipped. */
  message: string;
}

/** Options of `concord.discovery()` (and `concord.registry()`). */
export interface ServicePrefixOptions {
  /** Where instances live: `<prefix><service>/<instanceId>`. Empty or ending with `/`. Default `services/`. */
  prefix?: string;
}

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
 * - `draining`: the same, with the instance marked draining (`drain()`): it stays listed, and
 *   pickers no longer choose it. A re-registration keeps it draining;
 * - `reregistering`: the session's lease was lost (expired while the process was paused or cut
 *   off, or etcd lost its data), or someone else deleted the instance key; the
 *   instance is written again (under a new lease if the old one is gone) as soon as etcd
 *   answers. `reason` says why: a `SessionLostError` or an `InstanceRemovedError`;
 * - `deregistered`: `deregister()` (or `concord.close()`) removed the instance; final.
 */
export type RegistrationState =
  | { status: 'registered'; leaseId: string; revision: bigint }
  | { status: 'draining'; leaseId: string; revision: bigint }
  | { status: 'reregistering'; reason: Error }
  | { status: 'deregistered' };

/** How a `Picker` chooses: in turn (`round-robin`) or uniformly at random (`random`). */
export type PickStrategy = 'round-robin' | 'random';

/** What a caller tells a picker about a request to an instance (see `Picker.report`). */
export type PickOutcome = 'ok' | 'error';

/**
 * Passive outlier ejection (see `Picker.report`): after `afterErrors` consecutive errors an
 * instance is skipped for `forMs`, doubled on each further ejection in a row (an `ok` resets
 * it) up to `maxForMs`; at most `maxPercent` of the serving instances are ejected at once.
 */
export interface EjectOptions {
  /** Consecutive errors that eject an instance: an integer from 1. Default 3. */
  afterErrors?: number;
  /** How long the first ejection lasts, in ms: an integer from 1. Default 30,000. */
  forMs?: number;
  /** The longest an ejection grows to, in ms: an integer, at least `forMs`. Default 10 × `forMs`. */
  maxForMs?: number;
  /** The largest share of serving instances ejected at once, in percent (0 to 100). Default 50. */
  maxPercent?: number;
}

/** Options of `Discovery.picker`. */
export interface PickerOptions {
  /** Default `'round-robin'`. */
  strategy?: PickStrategy;
  /** Outlier ejection settings; `false` turns it off. On by default (see {@link EjectOptions}). */
  eject?: EjectOptions | false;
  /**
   * Prefer instances whose `meta.zone` is `zone` while any of them can be picked (serving, not
   * ejected); fall back to every instance otherwise.
   */
  prefer?: { zone: string };
}
