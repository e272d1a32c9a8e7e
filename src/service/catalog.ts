import { defer, filter, type Observable, ReplaySubject, share } from 'rxjs';
import type { Runtime } from '../core/runtime.js';
import { hubOf } from '../watch/hub.js';
import type { KeyValue, KvEvent } from '../watch/types.js';
import type { ViewFold } from '../watch/view-cache.js';
import { applyChanges, byKey, downsFirst, findByKey, isSorted, listChanges } from './changes.js';
import { type Entry, entryOf, isInstance } from './entry.js';
import { SharedValues } from './shared-values.js';
import type { DiscoveryError, ServiceChange, ServiceInstance } from './types.js';

/** The valid instances under a range at one revision. Never changed once emitted. */
export interface Catalog {
  revision: bigint;
  /** The instances sorted by key (so by service, then id). */
  list: readonly ServiceInstance[];
  /**
   * How this catalog differs from the one before it, in the order `changes$` reports them
   * (`down`s first, each group in key order). Empty for the first catalog.
   */
  changes: readonly ServiceChange[];
  /** The entries of the range that are not instances, by key (usually none). */
  skipped: ReadonlyMap<string, DiscoveryError>;
  /** The entries the write(s) this catalog came from made skipped ones. */
  newlySkipped: readonly DiscoveryError[];
}

type Parse = (key: string, value: Buffer, revision: bigint) => Entry;

/**
 * How the hub keeps a range under the registry prefix `base` (a service's own range when
 * `service` is given, else the whole prefix): the sorted list of instances itself, each key
 * parsed once per write. One list per range for the whole Concord, not a map of entries plus a
 * list: a change costs one binary search per key changed and one copy of the list.
 */
export function catalogFold(base: string, service: string | undefined): ViewFold<Entry, Catalog> {
  // One per fold, so per shared catalog: equal values among its instances are kept once.
  const shared = new SharedValues();
  const parse: Parse = (key, value, revision) => entryOf(key, value, revision, base, service, shared);
  return {
    // A range can be a service's own or a whole prefix's (`a/b/` is both for base `a/`, service
    // `b`, and for base `a/b/`): keys parse differently, so the id tells the two apart.
    id: `discovery:${JSON.stringify([base, service ?? null])}`,
    // A read needs the value and the mod revision only: the other fields are never decoded.
    read: (key, kv) => parse(key, kv.value, kv.modRevision),
    start: (revision, _keys, entries) => started(revision, entries),
    apply: (catalog, revision, events) => applied(catalog, revision, events, parse),
    restart: (catalog, revision, snapshot) => restarted(catalog, revision, snapshot, parse),
    progress: (catalog, revision) => ({ ...catalog, revision, changes: [], newlySkipped: [] }),
  };
}

function started(revision: bigint, all: Entry[]): Catalog {
  const skipped = new Map<string, DiscoveryError>();
  for (const entry of all) if (!isInstance(entry)) skipped.set(entry.key, entry);
  // A copy sized exactly and packed (fast to copy for every consumer): the read grew `all` by
  // pushing, and the spare capacity that leaves would be kept for as long as the list.
  const list = skipped.size === 0 ? (all.slice() as ServiceInstance[]) : all.filter(isInstance);
  if (!isSorted(list)) list.sort(byKey);
  return { revision, list, changes: [], skipped, newlySkipped: [...skipped.values()] };
}

/** One revision's events: each key changed is parsed once and merged into a copy of the list. */
function applied(catalog: Catalog, revision: bigint, events: readonly KvEvent[], parse: Parse): Catalog {
  const changes: ServiceChange[] = [];
  const newlySkipped: DiscoveryError[] = [];
  // Copied on the first change: the catalog handed out before keeps its own.
  let skipped: Map<string, DiscoveryError> | undefined;
  const own = () => {
    skipped ??= new Map(catalog.skipped);
    return skipped;
  };
  for (const { type, kv } of events) {
    const now = type === 'put' ? parse(kv.key, kv.value, kv.modRevision) : undefined;
    const was = findByKey(catalog.list, kv.key);
    if (now !== undefined && !isInstance(now)) {
      own().set(kv.key, now);
      newlySkipped.push(now);
    } else if ((skipped ?? catalog.skipped).has(kv.key)) {
      own().delete(kv.key);
    }
    if (isInstance(now)) changes.push({ type: was ? 'update' : 'up', instance: now });
    else if (was) changes.push({ type: 'down', instance: was });
  }
  if (changes.length === 0 && skipped === undefined) return catalog;
  changes.sort((a, b) => byKey(a.instance, b.instance));
  const list = changes.length > 0 ? applyChanges(catalog.list, changes) : catalog.list;
  return { revision, list, changes: downsFirst(changes), skipped: skipped ?? catalog.skipped, newlySkipped };
}

/** A re-read: instances whose write is unchanged are kept as they are, the rest parsed. */
function restarted(
  catalog: Catalog,
  revision: bigint,
  snapshot: ReadonlyMap<string, KeyValue>,
  parse: Parse,
): Catalog {
  const list: ServiceInstance[] = [];
  const skipped = new Map<string, DiscoveryError>();
  const newlySkipped: DiscoveryError[] = [];
  for (const [key, kv] of snapshot) {
    const kept = findByKey(catalog.list, key) ?? catalog.skipped.get(key);
    const entry = kept?.revision === kv.modRevision ? kept : parse(key, kv.value, kv.modRevision);
    if (isInstance(entry)) {
      list.push(entry);
    } else {
      skipped.set(key, entry);
      if (entry !== kept) newlySkipped.push(entry);
    }
  }
  if (!isSorted(list)) list.sort(byKey);
  const changes = downsFirst(listChanges(catalog.list, list));
  return { revision, list, changes, skipped, newlySkipped };
}

/**
 * The instances of one service (or, without `service`, of every service) under the registry
 * prefix `base`, as a stream over the hub's shared catalog of the range: one read and one
 * server-side watch per range for the whole Concord, each write parsed once. Emits the current
 * catalog on subscribe (late subscribers get the last one at once) and a new one whenever the set
 * of valid instances changes. Skipped entries go to `report` when this stream first sees them.
 */
export function catalog$(
  runtime: Runtime,
  base: string,
  service: string | undefined,
  report: (error: DiscoveryError) => void,
): Observable<Catalog> {
  const prefix = service === undefined ? base : `${base}${service}/`;
  const fold = catalogFold(base, service);
  return defer(() => {
    let first = true;
    return hubOf(runtime)
      .folded(prefix, fold)
      .pipe(
        filter((catalog) => {
          for (const error of first ? catalog.skipped.values() : catalog.newlySkipped) report(error);
          const changed = first || catalog.changes.length > 0;
          first = false;
          return changed;
        }),
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
