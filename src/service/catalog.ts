import { defer, filter, map, type Observable, ReplaySubject, share } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { hubOf } from '../watch/hub.js';
import type { VersionedMap } from '../watch/versioned-map.js';
import type { CachedView } from '../watch/view-cache.js';
import { applyChanges, byKey, downsFirst, instanceChanges } from './changes.js';
import { type Entry, entryProjection, isInstance } from './entry.js';
import type { DiscoveryError, ServiceChange, ServiceInstance } from './types.js';

/** The valid instances under a range at one revision. Never changed once emitted. */
export interface Catalog {
  revision: bigint;
  /** The instances sorted by key (so by service, then id). */
  list: readonly ServiceInstance[];
  /**
   * How this catalog differs from the one emitted before it, in the order `changes$` reports
   * them (`down`s first, each group in key order). Empty for the first catalog.
   */
  changes: readonly ServiceChange[];
}

/**
 * The instances of one service (or, without `service`, of every service) under the registry
 * prefix `base`, as a shared stream over the hub's parsed view of the range: one read and one
 * server-side watch per range for the whole Concord, each write parsed once. Emits the current
 * catalog on subscribe (late subscribers get the last one at once) and a new one whenever the set
 * of valid instances changes, computed from the keys that changed (O(keys changed) plus one pass
 * over the sorted list, never a re-parse or a re-sort). Skipped entries go to `report` when this
 * stream first sees them.
 */
export function catalog$(
  runtime: Runtime,
  base: string,
  service: string | undefined,
  report: (error: DiscoveryError) => void,
): Observable<Catalog> {
  const prefix = service === undefined ? base : `${base}${service}/`;
  const projection = entryProjection(base, service);
  return defer(() => {
    // Per connection: the entries the last catalog was made from, and its list.
    let seen: VersionedMap<Entry> | undefined;
    let list: readonly ServiceInstance[] = [];
    const next = ({ revision, entries }: CachedView<Entry>): Catalog | undefined => {
      const before = seen;
      seen = entries;
      if (before === undefined) {
        const instances: ServiceInstance[] = [];
        entries.forEach((entry) => {
          if (isInstance(entry)) instances.push(entry);
          else report(entry);
        });
        // A read lists keys in etcd's order, which this sort mostly confirms.
        list = instances.sort(byKey);
        return { revision, list, changes: [] };
      }
      // Without a record of the keys changed (after a resync or a new epoch of the map), every
      // key is compared: O(n), once per resync or per n changes.
      const keys = entries.changedSince(before) ?? new Set([...before.keys(), ...entries.keys()]);
      const changes = instanceChanges(keys, before, entries, report);
      if (changes.length === 0) return undefined;
      list = applyChanges(list, changes);
      return { revision, list, changes: downsFirst(changes) };
    };
    return hubOf(runtime)
      .projectedView(prefix, projection)
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
