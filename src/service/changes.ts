import { type Entry, isInstance } from './entry.js';
import type { DiscoveryError, ServiceChange, ServiceInstance } from './types.js';

/** Orders by key (so by service, then id), as JavaScript compares strings. */
export function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The instance changes from `before` to `after`, looking only at `keys` (which must include every
 * key whose entry differs), sorted by key: `down` (with the instance as it was) when an instance
 * is gone or became invalid, `up` when one appeared, `update` when one was rewritten. Entries are
 * compared by identity (a write makes a new one). Each entry that became a skipped one goes to
 * `skipped`. O(keys), plus sorting the changes.
 */
export function instanceChanges(
  keys: Iterable<string>,
  before: ReadonlyMap<string, Entry>,
  after: ReadonlyMap<string, Entry>,
  skipped: (error: DiscoveryError) => void,
): ServiceChange[] {
  const changes: ServiceChange[] = [];
  for (const key of keys) {
    const was = before.get(key);
    const now = after.get(key);
    if (was === now) continue;
    if (now !== undefined && !isInstance(now)) skipped(now);
    const old = isInstance(was) ? was : undefined;
    if (isInstance(now)) changes.push({ type: old ? 'update' : 'up', instance: now });
    else if (old) changes.push({ type: 'down', instance: old });
  }
  return changes.sort((a, b) => byKey(a.instance, b.instance));
}

/**
 * `list` (sorted by key, the instances of `before`) with `changes` (from
 * {@link instanceChanges}, sorted by key) applied, as a new sorted array: one binary search per
 * change and one copy of the list, with no key comparisons in between.
 */
export function applyChanges(
  list: readonly ServiceInstance[],
  changes: readonly ServiceChange[],
): ServiceInstance[] {
  let size = list.length;
  for (const { type } of changes) size += type === 'up' ? 1 : type === 'down' ? -1 : 0;
  // Filled by index: several times faster than growing the array one push at a time.
  const out = new Array<ServiceInstance>(size);
  let filled = 0;
  let from = 0;
  for (const change of changes) {
    const at = firstNotBefore(list, change.instance.key, from);
    while (from < at) out[filled++] = list[from++]!;
    if (change.type !== 'down') out[filled++] = change.instance;
    // An update or a down replaces the instance listed at `at`.
    if (change.type !== 'up') from++;
  }
  while (from < list.length) out[filled++] = list[from++]!;
  return out;
}

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
