import { inspect } from 'node:util';

/** Marks, in an undo record, a key the older version did not have. */
const ABSENT: unique symbol = Symbol('absent');

/** For each key one update changed, its value before that update (ABSENT: it had none). */
type Undo<V> = Map<string, V | typeof ABSENT>;

/**
 * A read of an old version follows at most this many undo records towards the newest version;
 * further back, it copies the entries once instead (so a far-behind reader pays O(n) once, as
 * it would have with a copy per update, and never O(updates) per read).
 */
const MAX_HOPS = 8;

/** A map shorter than this still starts a new epoch only after this many undo entries. */
const MIN_EPOCH = 64;

/** The one Map that the newest version reads and that updates change in place. */
interface Live<V> {
  readonly map: Map<string, V>;
  /** Iterations of `map` under way: while there are any, the next update copies instead. */
  readers: number;
  /** Undo entries recorded against `map` so far. */
  undone: number;
}

/**
 * One version of a string-keyed map: immutable for its readers, while making the next version
 * costs O(keys changed) amortized instead of a copy of the whole map.
 *
 * The newest version reads a native Map that `update` changes in place; the version it replaces
 * keeps an undo record (the previous value of each key changed) and a link to its successor, so
 * reading an old version walks a few undo records. Links only point from old to new, so versions
 * nobody holds are garbage collected. Once the undo entries recorded against one Map exceed its
 * size (an epoch), or while an iteration of the newest version is under way, `update` copies the
 * Map instead: that bounds what an old version keeps alive to O(size) and the copying to O(1)
 * amortized per change.
 *
 * Guarantees: every version answers `get`, `has`, `size` and iteration with exactly the entries
 * it had when it was made, forever, including iterators started before later updates.
 * Iteration order is unspecified. Values must be objects (never `undefined`).
 */
export class VersionedMap<V extends object> implements ReadonlyMap<string, V> {
  readonly size: number;
  /** Set while this is the newest version of its lineage: the Map it reads and updates. */
  #live: Live<V> | undefined;
  /** This version's own entries when it has them (the live Map, a frozen one or a copy). */
  #map: Map<string, V> | undefined;
  /** The version made from this one, and how to undo what it changed. Unset across an epoch. */
  #next: VersionedMap<V> | undefined;
  #undo: Undo<V> | undefined;

  private constructor(live: Live<V>) {
    this.#live = live;
    this.#map = live.map;
    this.size = live.map.size;
  }

  /** The first version of a lineage. Takes ownership of `entries`: the caller must not change it. */
  static from<V extends object>(entries: Map<string, V>): VersionedMap<V> {
    return new VersionedMap({ map: entries, readers: 0, undone: 0 });
  }

  /**
   * The version after this one: `changes` applied in order (a value sets the key, `undefined`
   * deletes it). Only the newest version of a lineage can be updated; this one keeps its entries.
   */
  update(changes: Iterable<readonly [key: string, value: V | undefined]>): VersionedMap<V> {
    const live = this.#live;
    if (live === undefined) throw new Error('VersionedMap: only the newest version can be updated');
    this.#live = undefined;
    if (live.readers > 0 || live.undone >= Math.max(live.map.size, MIN_EPOCH)) {
      // This version keeps the Map as it is (never changed again); the next one starts a new epoch.
      const map = new Map(live.map);
      for (const [key, value] of changes) {
        if (value === undefined) map.delete(key);
        else map.set(key, value);
      }
      return VersionedMap.from(map);
    }
    const undo: Undo<V> = new Map();
    for (const [key, value] of changes) {
      if (!undo.has(key)) undo.set(key, live.map.get(key) ?? ABSENT);
      if (value === undefined) live.map.delete(key);
      else live.map.set(key, value);
    }
    live.undone += undo.size;
    const next = new VersionedMap(live);
    this.#map = undefined;
    this.#undo = undo;
    this.#next = next;
    return next;
  }

  /**
   * The keys whose entries may differ between `older` and this version, found from the undo
   * records between them (O(keys changed)); undefined when `older` is not an earlier version of
   * the same epoch (then compare whole maps). Empty when `older` is this version.
   */
  changedSince(older: VersionedMap<V>): Set<string> | undefined {
    const keys = new Set<string>();
    for (let version = older; version !== this; ) {
      const undo = version.#undo;
      const next = version.#next;
      if (undo === undefined || next === undefined) return undefined;
      for (const key of undo.keys()) keys.add(key);
      version = next;
    }
    return keys;
  }

  get(key: string): V | undefined {
    if (this.#map) return this.#map.get(key);
    // Invariant: a version without a Map has an undo record and a successor.
    let version = this.#next!;
    let recorded = this.#undo!.get(key);
    for (let hops = 1; recorded === undefined; hops++) {
      if (version.#map) return version.#map.get(key);
      if (hops >= MAX_HOPS) return this.#materialize().get(key);
      recorded = version.#undo!.get(key);
      version = version.#next!;
    }
    return recorded === ABSENT ? undefined : recorded;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  *entries(): Generator<[string, V], undefined> {
    const live = this.#live;
    if (live === undefined) {
      yield* this.#map ?? this.#materialize();
      return;
    }
    // The newest version iterates the live Map: updates copy it until this iteration ends.
    live.readers++;
    try {
      yield* live.map;
    } finally {
      live.readers--;
    }
  }

  *keys(): Generator<string, undefined> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): Generator<V, undefined> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): Generator<[string, V], undefined> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    // The Map's own forEach: several times faster than a generator for a large map.
    const live = this.#live;
    const map = this.#map ?? this.#materialize();
    if (live) live.readers++;
    try {
      map.forEach((value, key) => {
        callback.call(thisArg, value, key, this);
      });
    } finally {
      if (live) live.readers--;
    }
  }

  /** `console.log` and `util.inspect` show the entries, as for a Map. */
  [inspect.custom](): Map<string, V> {
    return new Map(this);
  }

  /** Gives this (old) version its own Map: the newest Map reached, with the undo records applied. */
  #materialize(): Map<string, V> {
    const overlay: Undo<V> = new Map();
    let version: VersionedMap<V> = this;
    while (!version.#map) {
      // The record nearest to this version holds its value.
      for (const [key, value] of version.#undo!) if (!overlay.has(key)) overlay.set(key, value);
      version = version.#next!;
    }
    const map = new Map(version.#map);
    for (const [key, value] of overlay) {
      if (value === ABSENT) map.delete(key);
      else map.set(key, value);
    }
    this.#map = map;
    return map;
  }
}
