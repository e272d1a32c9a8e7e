import { isPlainObject } from '../core/validate.js';
import { type ConfigObject, getOwn, setOwn } from './data.js';

/** One key whose decoded value changed: its path segments, the value before and after (undefined: absent). */
export interface Edit {
  segments: readonly string[];
  before: unknown;
  after: unknown;
}

/** The tree a set of keys maps to, and that tree merged over the defaults (the value to validate). */
export interface Built {
  tree: ConfigObject;
  merged: unknown;
}

/**
 * `built` with `edits` applied by copying only the objects along each edited path, so that a
 * one-key change costs O(depth × width of the objects on its path) instead of a rebuild of the
 * whole config; unchanged subtrees are shared with `built` (which is never modified). The result
 * equals what `buildTree` + `deepMerge(defaults, ...)` give for the edited keys.
 *
 * Answers undefined, so the caller rebuilds, whenever an edit could interact with other keys in
 * a way a local patch cannot see: a value that is a JSON object before or after (it merges with
 * the keys below it), a key added where a value already sits or below a scalar (a clash to
 * report), or a key removed whose parent object would be left empty (it may vanish or stay,
 * depending on other keys).
 */
export function patchBuilt(built: Built, edits: readonly Edit[], defaults: unknown): Built | undefined {
  let { tree, merged } = built;
  for (const { segments, before, after } of edits) {
    if (isPlainObject(before) || isPlainObject(after)) return undefined;
    if (after === undefined) {
      const next = removeIn(tree, segments, 0);
      if (!next) return undefined;
      tree = next;
      if (defaults !== undefined) merged = replaceIn(merged, segments, 0, valueAt(defaults, segments));
    } else {
      // An added key must land on a free spot; an overwritten one owns its leaf (a leaf comes
      // from exactly one key, or the keys would not have mapped).
      if (before === undefined && !isFree(tree, segments)) return undefined;
      tree = replaceIn(tree, segments, 0, after) as ConfigObject;
      if (defaults !== undefined) merged = replaceIn(merged, segments, 0, after);
    }
  }
  // Without defaults the merged value is the tree itself.
  return { tree, merged: defaults === undefined ? tree : merged };
}

/** True when no value sits at `segments` and every object on the way to it is a plain object (or absent). */
function isFree(tree: ConfigObject, segments: readonly string[]): boolean {
  let node: unknown = tree;
  for (const segment of segments) {
    if (node === undefined) return true;
    if (!isPlainObject(node)) return false;
    node = getOwn(node, segment);
  }
  return node === undefined;
}

/**
 * A copy of `node` with `leaf` at `segments[i..]` (undefined removes it), copying the objects on
 * the path. A non-object on the path is replaced by a fresh object: in a merged value that is a
 * default the keys override (deepMerge lets an object from etcd replace a scalar default).
 */
function replaceIn(node: unknown, segments: readonly string[], i: number, leaf: unknown): unknown {
  const copy: ConfigObject = isPlainObject(node) ? { ...node } : {};
  const segment = segments[i]!;
  const value = i === segments.length - 1 ? leaf : replaceIn(getOwn(copy, segment), segments, i + 1, leaf);
  if (value === undefined) delete copy[segment];
  else setOwn(copy, segment, value);
  return copy;
}

/** A copy of `node` without the leaf at `segments[i..]`; undefined when an object below the root would be left empty. */
function removeIn(node: ConfigObject, segments: readonly string[], i: number): ConfigObject | undefined {
  const copy: ConfigObject = { ...node };
  const segment = segments[i]!;
  if (i === segments.length - 1) {
    delete copy[segment];
  } else {
    const child = getOwn(node, segment);
    if (!isPlainObject(child)) return undefined;
    const next = removeIn(child, segments, i + 1);
    if (!next) return undefined;
    setOwn(copy, segment, next);
  }
  return i > 0 && Object.keys(copy).length === 0 ? undefined : copy;
}

/** The value at `segments` in `value` (through plain objects only), or undefined. */
function valueAt(value: unknown, segments: readonly string[]): unknown {
  let node = value;
  for (const segment of segments) {
    if (!isPlainObject(node)) return undefined;
    node = getOwn(node, segment);
  }
  return node;
}
