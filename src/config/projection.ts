import type { KeyValue } from '../watch/types.js';
import type { Projection } from '../watch/view-cache.js';
import { deepFreeze } from './data.js';
import { decodeValue } from './tree.js';

/** What the shared config view keeps for each key: its value decoded once per write, frozen. */
export interface ConfigKey {
  readonly modRevision: bigint;
  readonly value: unknown;
}

/**
 * The projection every LiveConfig of a prefix follows it with: one cache, one read and one
 * server-side watch per prefix for the whole Concord, each write decoded (JSON, else text) once
 * however many configs of the prefix there are. The values are frozen because they end up,
 * shared, inside the config objects handed to subscribers.
 */
export const CONFIG_PROJECTION: Projection<ConfigKey> = {
  id: 'config',
  project: (kv: KeyValue): ConfigKey =>
    Object.freeze({ modRevision: kv.modRevision, value: deepFreeze(decodeValue(kv.value)) }),
  revisionOf: (entry) => entry.modRevision,
};
