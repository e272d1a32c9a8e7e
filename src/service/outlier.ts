import { findByKey } from './changes.js';
import type { PickOutcome, ServiceInstance } from './types.js';

/** Outlier ejection settings, resolved with their defaults (see `EjectOptions`). */
export interface EjectPolicy {
  afterErrors: number;
  forMs: number;
  maxForMs: number;
  maxPercent: number;
}

/**
 * The defaults: three errors in a row, 30 s (Curator's DownInstancePolicy and Envoy use 2 and 5
 * errors, 30 s), doubling up to 300 s (Envoy's and gRPC's cap), at most half of the instances.
 * A dead instance costs three failed requests, then stays out until its lease expires.
 */
export const DEFAULT_EJECT: EjectPolicy = {
  afterErrors: 3,
  forMs: 30_000,
  maxForMs: 300_000,
  maxPercent: 50,
};

/** Why an ejection ended: its time was up, the instance was rewritten, or the cap shrank. */
export type RestoreReason = 'expired' | 'rewritten' | 'cap';

/** Told of every ejection and its end: the operator-facing points of outlier ejection. */
export interface EjectionListener {
  ejected(instance: ServiceInstance, forMs: number): void;
  restored(instance: ServiceInstance, reason: RestoreReason): void;
}

/** What is known about one instance that had errors, or was ejected. */
interface Health {
  /** The instance as listed when this began: a rewrite (new revision) starts afresh. */
  instance: ServiceInstance;
  /** Errors in a row since the last `ok` or ejection. */
  errors: number;
  /** Ejections in a row (an `ok` resets it): the next one lasts forMs × 2^level, capped. */
  level: number;
  /** Clock time the ejection ends; undefined while not ejected. */
  until: number | undefined;
  /** Back from an ejection without an `ok` since: a single error ejects it again. */
  probation: boolean;
}

/**
 * Passive outlier detection for one picker, from the outcomes its caller reports. Pure: time
 * comes from `now`, and nothing happens between calls (an ejection that ran out ends at the
 * next `expire()`). Keeps state only for instances with errors or ejections, so it costs nothing
 * per healthy instance.
 */
export class Outliers {
  readonly #health = new Map<string, Health>();
  #ejected = 0;
  #serving = 0;
  /** The earliest `until` among ejected instances. */
  #nextExpiry = Number.POSITIVE_INFINITY;

  constructor(
    private readonly policy: EjectPolicy,
    private readonly now: () => number,
    private readonly listener: EjectionListener,
  ) {}

  /** How many instances are ejected now. */
  get ejectedCount(): number {
    return this.#ejected;
  }

  /** True while the instance at `key` is ejected. */
  isEjected(key: string): boolean {
    return this.#health.get(key)?.until !== undefined;
  }

  /**
   * Takes a new instance list (sorted by key) with `serving` instances in it: forgets instances
   * gone, rewritten (a new revision: re-registered, updated or draining, which ends an ejection
   * early) or no longer serving, then ends the ejections that exceed the cap for the new count,
   * soonest-ending first. Returns true when the set of ejected instances changed.
   */
  sync(list: readonly ServiceInstance[], serving: number): boolean {
    this.#serving = serving;
    let changed = false;
    for (const [key, health] of this.#health) {
      const listed = findByKey(list, key);
      if (listed?.revision === health.instance.revision && listed.status === 'serving') continue;
      this.#health.delete(key);
      if (health.until === undefined) continue;
      this.#ejected--;
      changed = true;
      // A rewritten instance that still serves is back in rotation; gone or draining ones are not.
      if (listed?.status === 'serving') this.listener.restored(listed, 'rewritten');
    }
    const allowed = this.#allowed();
    while (this.#ejected > allowed) {
      this.#restore(this.#soonest()!, 'cap');
      changed = true;
    }
    if (changed) this.#nextExpiry = this.#earliest();
    return changed;
  }

  /**
   * Counts one outcome for `instance`, which must be listed and serving as given. `ok` clears its
   * record; an error while not ejected counts, and ejects it on the `afterErrors`th error in a row
   * (the first one after an ejection ended) if the cap allows. Outcomes of requests to an
   * instance already ejected change nothing. Returns true when it ejected the instance.
   */
  report(instance: ServiceInstance, outcome: PickOutcome): boolean {
    const health = this.#health.get(instance.key);
    if (health?.until !== undefined) return false;
    if (outcome === 'ok') {
      this.#health.delete(instance.key);
      return false;
    }
    const entry = health ?? { instance, errors: 0, level: 0, until: undefined, probation: false };
    if (!health) this.#health.set(instance.key, entry);
    entry.errors++;
    if (!entry.probation && entry.errors < this.policy.afterErrors) return false;
    // Over the cap the errors keep counting; the next one tries again.
    if (this.#ejected + 1 > this.#allowed()) return false;
    const { forMs, maxForMs } = this.policy;
    const ms = Math.min(forMs * 2 ** entry.level, maxForMs);
    entry.level++;
    entry.errors = 0;
    entry.probation = false;
    entry.until = this.now() + ms;
    this.#ejected++;
    this.#nextExpiry = Math.min(this.#nextExpiry, entry.until);
    this.listener.ejected(entry.instance, ms);
    return true;
  }

  /** Ends the ejections whose time is up; O(1) when none is. Returns true when one ended. */
  expire(): boolean {
    const now = this.now();
    if (now < this.#nextExpiry) return false;
    for (const health of this.#health.values()) {
      if (health.until !== undefined && health.until <= now) this.#restore(health, 'expired');
    }
    this.#nextExpiry = this.#earliest();
    return true;
  }

  /** The most instances the cap lets be ejected at once. */
  #allowed(): number {
    return Math.floor((this.policy.maxPercent * this.#serving) / 100);
  }

  #restore(health: Health, reason: RestoreReason): void {
    health.until = undefined;
    health.probation = true;
    this.#ejected--;
    this.listener.restored(health.instance, reason);
  }

  #soonest(): Health | undefined {
    let soonest: Health | undefined;
    for (const health of this.#health.values()) {
      if (health.until !== undefined && (soonest === undefined || health.until < soonest.until!)) {
        soonest = health;
      }
    }
    return soonest;
  }

  #earliest(): number {
    return this.#soonest()?.until ?? Number.POSITIVE_INFINITY;
  }
}
