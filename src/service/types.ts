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
