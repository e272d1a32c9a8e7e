import { defer, filter, map, type Observable, ReplaySubject, share } from 'rxjs';
import type { Runtime } from '../runtime.js';
import { hubOf } from '../watch/hub.js';
import type { View } from '../watch/types.js';
import { parseEntry } from './parse.js';
import type { DiscoveryError, ServiceChange, ServiceInstance } from './types.js';

/** The valid instances under a range at one revision. */
export interface Catalog {
  revision: bigint;
  /** Valid instances by key. */
  byKey: ReadonlyMap<string, ServiceInstance>;
  /** The same instances sorted by key (so by service, then id). */
  list: readonly ServiceInstance[];
}

interface Seen {
  revision: bigint;
  instance: ServiceInstance | undefined;
}

/**
 * The instances of one service (or, without `service`, of every service) under the registry
 * prefix `base`, as a shared stream: one hub view (so one server-side watch per prefix, shared
 * with every other consumer of the same Concord), parsed once per write however many
 * subscribers there are. Emits the current catalog on subscribe (late subscribers get the last
 * one at once) and a new one whenever the set of valid instances changes. Entries that are not
 * instances go to `report`, once per write.
 */
export function catalog$(
  runtime: Runtime,
  base: string,
  service: string | undefined,
  report: (error: DiscoveryError) => void,
): Observable<Catalog> {
  const prefix = service === undefined ? base : `${base}${service}/`;
  return defer(() => {
    // Per connection: what each key's current write parsed to, so an unchanged key is not parsed again.
    let seen = new Map<string, Seen>();
    let last: Catalog | undefined;
    const next = (view: View): Catalog | undefined => {
      const nextSeen = new Map<string, Seen>();
      const byKey = new Map<string, ServiceInstance>();
      for (const [key, kv] of view.entries) {
        let entry = seen.get(key);
        if (entry === undefined || entry.revision !== kv.modRevision) {
          const parsed = parseEntry(kv, base, service);
          entry = { revision: kv.modRevision, instance: parsed.ok ? parsed.instance : undefined };
          if (!parsed.ok) {
            runtime.log.warn('discovery skipped an invalid instance entry', { key, reason: parsed.message });
            report({ key, revision: kv.modRevision, value: kv.value, message: parsed.message });
          }
        }
        nextSeen.set(key, entry);
        if (entry.instance) byKey.set(key, entry.instance);
      }
      seen = nextSeen;
      if (last && sameInstances(last.byKey, byKey)) return undefined;
      last = {
        revision: view.revision,
        byKey,
        list: [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
      };
      return last;
    };
    return hubOf(runtime)
      .view({ prefix })
      .pipe(
        map(next),
        filter((catalog): catalog is Catalog => catalog !== undefined),
      );
  }).pipe(
    share({
      connector: () => new ReplaySubject<Catalog>(1),
      resetOnError: true,
      resetOnComplete: true,
      resetOnRefCountZero: true,
    }),
  );
}

// Unchanged keys keep their instance object, so identity says whether anything changed.
function sameInstances(
  a: ReadonlyMap<string, ServiceInstance>,
  b: ReadonlyMap<string, ServiceInstance>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [key, instance] of b) if (a.get(key) !== instance) return false;
  return true;
}

/**
 * What changed from `before` (nothing, when undefined) to `after`: `down` for each instance gone (as it was), then `update`
 * for each rewritten one and `up` for each new one, in key order.
 */
export function diff(before: Catalog | undefined, after: Catalog): ServiceChange[] {
  const changes: ServiceChange[] = [];
  for (const instance of before?.list ?? []) {
    if (!after.byKey.has(instance.key)) changes.push({ type: 'down', instance });
  }
  for (const instance of after.list) {
    const old = before?.byKey.get(instance.key);
    if (old === undefined) changes.push({ type: 'up', instance });
    else if (old !== instance) changes.push({ type: 'update', instance });
  }
  return changes;
}
