import { checkName, isPlainObject } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import { type ConfigObject, copyObjects, getOwn, setOwn } from './data.js';

/** One key below a config prefix: its path ('db/pool') and its decoded value. */
export interface ConfigEntry {
  path: string;
  value: unknown;
}

/** What {@link buildTree} produces: the nested object, or why the keys cannot form one. */
export type TreeResult =
  | { ok: true; tree: ConfigObject }
  | { ok: false; issue: string; paths: readonly string[] };

/**
 * Decodes a stored value: JSON when it parses as JSON, otherwise the UTF-8 text itself, so a
 * value written by hand (`etcdctl put app/name billing`) is the string `billing`.
 */
export function decodeValue(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The segments of a path, or undefined when it is empty or has an empty segment ('a//b', '/a', 'a/'). */
export function splitPath(path: string): string[] | undefined {
  const segments = path.split('/');
  return segments.every((s) => s !== '') ? segments : undefined;
}

/** Throws {@link InvalidArgumentError} (naming `argument`) unless `path` names a key below a config prefix: '/'-separated non-empty segments. */
export function checkPath(path: unknown, argument = 'path'): asserts path is string {
  checkName(argument, path);
  if (!splitPath(path)) {
    throw new InvalidArgumentError(
      argument,
      "must be '/'-separated non-empty segments, like 'db/pool'",
      path,
    );
  }
}

/**
 * Builds the nested object the keys describe: `db/pool` = 20 becomes `{ db: { pool: 20 } }`.
 * A key whose value is a JSON object merges with keys below it (`db` = `{"host":"h"}` and
 * `db/pool` = 20 give `{ db: { host: 'h', pool: 20 } }`), but every leaf must come from exactly
 * one key: a scalar or array with keys below it, or two keys supplying the same leaf, cannot
 * map, and the result names both keys. The entries' values are never modified.
 */
export function buildTree(entries: readonly ConfigEntry[]): TreeResult {
  // Sorted, a key always comes before the keys below it, so parents are placed first.
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const placed: string[][] = [];
  const root: ConfigObject = {};
  for (const entry of sorted) {
    const { path } = entry;
    // Objects below are merged into (changed): a value shared with others (decoded once per
    // write, frozen) is placed as a copy.
    const value = isPlainObject(entry.value) ? copyObjects(entry.value) : entry.value;
    const segments = splitPath(path);
    if (!segments) {
      return { ok: false, issue: `key '${path}' has an empty path segment`, paths: [path] };
    }
    let node = root;
    for (let depth = 0; depth < segments.length - 1; depth++) {
      const segment = segments[depth]!;
      const existing = getOwn(node, segment);
      if (existing === undefined) {
        const child: ConfigObject = {};
        setOwn(node, segment, child);
        node = child;
      } else if (isPlainObject(existing)) {
        node = existing;
      } else {
        return clash(placed, segments.slice(0, depth + 1), path, { value: existing });
      }
    }
    const last = segments.at(-1)!;
    const existing = getOwn(node, last);
    if (existing === undefined) {
      setOwn(node, last, value);
    } else if (isPlainObject(existing) && isPlainObject(value)) {
      const overlap = mergeDisjoint(existing, value, segments);
      if (overlap) return clash(placed, overlap, path);
    } else {
      return clash(placed, segments, path);
    }
    placed.push(segments);
  }
  return { ok: true, tree: root };
}

/** Merges `from` into `into`; returns the path of the first leaf both define, if any. */
function mergeDisjoint(into: ConfigObject, from: ConfigObject, at: string[]): string[] | undefined {
  for (const key of Object.keys(from)) {
    const existing = getOwn(into, key);
    const value = from[key];
    if (existing === undefined) setOwn(into, key, value);
    else if (isPlainObject(existing) && isPlainObject(value)) {
      const overlap = mergeDisjoint(existing, value, [...at, key]);
      if (overlap) return overlap;
    } else return [...at, key];
  }
  return undefined;
}

// `blocker` is the non-object value found in the way, or absent when the leaf itself is taken.
function clash(placed: string[][], at: string[], path: string, blocker?: { value: unknown }): TreeResult {
  // The key that supplied `at` is the longest placed key whose path starts `at`.
  let owner: string[] | undefined;
  for (const segments of placed) {
    if (segments.length <= at.length && segments.every((s, i) => s === at[i])) {
      if (!owner || segments.length > owner.length) owner = segments;
    }
  }
  const other = owner?.join('/') ?? at.join('/');
  const target = at.join('/');
  let what: string;
  if (!blocker) what = `already sets '${target}'`;
  else if (other === target) what = `holds ${describe(blocker.value)}`;
  else what = `sets '${target}' to ${describe(blocker.value)}`;
  return { ok: false, issue: `key '${path}' cannot be placed: key '${other}' ${what}`, paths: [path, other] };
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  const text = JSON.stringify(value) ?? String(value);
  return `the scalar ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}
