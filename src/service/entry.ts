import { parseEntry } from './record.js';
import type { SharedValues } from './shared-values.js';
import type { DiscoveryError, ServiceInstance } from './types.js';

/** What discovery keeps for one key under the registry prefix: its instance, or why it is none. */
export type Entry = ServiceInstance | DiscoveryError;

/** True when `entry` is an instance (a skipped entry carries a `message` instead). */
export function isInstance(entry: Entry | undefined): entry is ServiceInstance {
  return entry !== undefined && !('message' in entry);
}

/**
 * One key under the registry prefix `base` as written at `revision`: a frozen
 * {@link ServiceInstance}, or a frozen {@link DiscoveryError} holding a copy of the value (so a
 * read's whole response page never stays alive for it). `service` as for `parseEntry`: the key
 * comes from `<base><service>/` when given, else from `<base>`; `shared` as for `parseEntry`.
 */
export function entryOf(
  key: string,
  value: Buffer,
  revision: bigint,
  base: string,
  service: string | undefined,
  shared?: SharedValues,
): Entry {
  const parsed = parseEntry(key, value, revision, base, service, shared);
  if (typeof parsed !== 'string') return parsed;
  const error: DiscoveryError = { key, revision, value: Buffer.from(value), message: parsed };
  return Object.freeze(error);
}
