import type { ServiceChange, ServiceInstance } from './types.js';

/** Orders by key (so by service, then id), as JavaScript compares strings. */
export function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The changes from `before` to `after` (both sorted by key), in key order: `down` (with the
 * instance as it was) for an instance gone, `up` for one that appeared, `update` for one whose
 * object differs (a write makes a new one). One merge walk: O(before + after).
 */
export function listChanges(
  before: readonly ServiceInstance[],
  after: readonly ServiceInstance[],
): ServiceChange[] {
  const changes: ServiceChange[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const was = before[i];
    const now = after[j];
    const order = was === undefined ? 1 : now === undefined ? -1 : byKey(was, now);
    if (order < 0) {
      changes.push({ type: 'down', instance: was! });
      i++;
    } else if (order > 0) {
      changes.push({ type: 'up', instance: now! });
      j++;
    } else {
      if (was !== now) changes.push({ type: 'update', instance: now! });
      i++;
      j++;
    }
  }
  return changes;
}

/** True when `list` is sorted by key (a read lists keys in etcd's byte order, which almost always agrees). */
export function isSorted(list: readonly ServiceInstance[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i - 1]!.key > list[i]!.key) return false;
  return true;
}

/**
 * `list` (sorted by key) with `changes` (sorted by key; `update` and `down` for instances in
 * `list`, `up` for others) applied, as a new sorted array: one binary search per change, and the
 * runs of `list` between changes copied whole (`slice` and `concat` copy memory in one go, an
 * order of magnitude faster than element by element, and keep the array packed, so consumers'
 * copies of it are fast too).
 */
export function applyChanges(
  list: readonly ServiceInstance[],
  changes: readonly ServiceChange[],
): ServiceInstance[] {
  // The usual change, one instance: one copy, made by the engine.
  if (changes.length === 1) {
    const { type, instance } = changes[0]!;
    const at = firstNotBefore(list, instance.key, 0);
    if (type === 'up') return list.toSpliced(at, 0, instance);
    return type === 'down' ? list.toSpliced(at, 1) : list.with(at, instance);
  }
  const parts: ServiceInstance[][] = [];
  let from = 0;
  for (const change of changes) {
    const at = firstNotBefore(list, change.instance.key, from);
    if (at > from) parts.push(list.slice(from, at));
    if (change.type !== 'down') parts.push([change.instance]);
    // An update or a down replaces the instance listed at `at`.
    from = change.type === 'up' ? at : at + 1;
  }
  parts.push(list.slice(from));
  // concat takes its parts as arguments: past a few thousand, join them in batches.
  let out: ServiceInstance[] = [];
  for (let i = 0; i < parts.length; i += CONCAT_BATCH) out = out.concat(...parts.slice(i, i + CONCAT_BATCH));
  return out;
}

/** Parts joined per `concat` call in {@link applyChanges} (well below any argument-count limit). */
const CONCAT_BATCH = 1_000;

/** Index of the first instance in `list[from..]` whose key does not sort before `key`. */
function firstNotBefore(list: readonly ServiceInstance[], key: string, from: number): number {
  let lo = from;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `changes` in the order `changes$` reports one revision: every `down` first, each group in key order. */
export function downsFirst(changes: readonly ServiceChange[]): ServiceChange[] {
  return [...changes.filter((c) => c.type === 'down'), ...changes.filter((c) => c.type !== 'down')];
}

/** The instance at `key` in `list` (sorted by key), by binary search. */
export function findByKey(list: readonly ServiceInstance[], key: string): ServiceInstance | undefined {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  const found = list[lo];
  return found?.key === key ? found : undefined;
}
