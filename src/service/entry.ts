import type { Projection } from '../watch/view-cache.js';
import { parseEntry } from './record.js';
import type { DiscoveryError, ServiceInstance } from './types.js';

/** What discovery keeps for one key under the registry prefix: its instance, or why it is none. */
export type Entry = ServiceInstance | DiscoveryError;

/** True when `entry` is an instance (a skipped entry carries a `message` instead). */
export function isInstance(entry: Entry | undefined): entry is ServiceInstance {
  return entry !== undefined && !('message' in entry);
}

/**
 * The view projection discovery follows a range with: each key parsed once per write into a
 * frozen {@link ServiceInstance} or a frozen {@link DiscoveryError}, so the cache holds no raw
 * values. `service` as for `parseEntry`: the range is `<base><service>/` when given, else `<base>`.
 */
export function entryProjection(base: string, service: string | undefined): Projection<Entry> {
  return {
    // A range can be a service's own or a whole prefix's (`a/b/` is both for base `a/`, service
    // `b`, and for base `a/b/`): keys parse differently, so the id tells the two apart.
    id: `discovery:${JSON.stringify([base, service ?? null])}`,
    project: (kv) => {
      const parsed = parseEntry(kv, base, service);
      if (typeof parsed !== 'string') return parsed;
      // A copy of the value: the read's whole response page must not stay alive for it.
      const error: DiscoveryError = {
        key: kv.key,
        revision: kv.modRevision,
        value: Buffer.from(kv.value),
        message: parsed,
      };
      return Object.freeze(error);
    },
    revisionOf: (entry) => entry.revision,
  };
}
