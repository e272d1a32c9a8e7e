import type { ConfigObject } from '../config/data.js';
import { buildTree, type ConfigEntry, decodeValue } from '../config/tree.js';
import type { KeyValue } from '../watch/types.js';

/** A key under a config prefix that cannot be part of the nested value, and why. */
export interface InvalidKey {
  /** The path below the prefix. */
  path: string;
  issue: string;
}

/** The nested value of a config prefix as far as its keys allow, and the keys left out. */
export interface ConfigTree {
  value: ConfigObject;
  invalid: InvalidKey[];
}

/**
 * Maps the keys under `prefix` to one nested value as the library's live config does (values
 * are JSON, or text when not JSON), but where the library rejects the whole revision, this
 * leaves out each key that cannot be placed (an empty path segment, a leaf two keys set, a
 * scalar with keys below it) and names it with the reason, so an operator sees both the value
 * and what is wrong with it.
 */
export function configTree(prefix: string, entries: Iterable<KeyValue>): ConfigTree {
  let placed: ConfigEntry[] = [...entries].map((kv) => ({
    path: kv.key.slice(prefix.length),
    value: decodeValue(kv.value),
  }));
  const invalid: InvalidKey[] = [];
  for (;;) {
    const built = buildTree(placed);
    if (built.ok) return { value: built.tree, invalid: invalid.sort((a, b) => (a.path < b.path ? -1 : 1)) };
    // The first path named is the key that could not be placed: leave it out and try again.
    const [culprit] = built.paths;
    invalid.push({ path: culprit!, issue: built.issue });
    placed = placed.filter((entry) => entry.path !== culprit);
  }
}
