import { errorText } from '../core/error-text.js';
import { checkOptions, isPlainObject } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import { deepFreeze, deepMerge, toJson } from './data.js';
import type { Built } from './patch.js';
import {
  isStandardSchema,
  type StandardIssue,
  type StandardResult,
  type StandardSchemaV1,
} from './standard-schema.js';
import { buildTree, type ConfigEntry, splitPath } from './tree.js';

/** How a set of keys turns into a config value: the merge base and the validator. */
export interface ConfigRules {
  defaults: unknown;
  schema: StandardSchemaV1 | undefined;
}

/**
 * The rules of `concord.config(prefix, options)`: checks `options` (`schema` must be a Standard
 * Schema, `defaults` a plain object of JSON data, copied and frozen; the instance options are
 * checked by `reporterFor`).
 */
export function configRules(options: unknown): ConfigRules {
  checkOptions('options', options, ['schema', 'defaults', 'instance', 'session', 'ttl']);
  const { schema, defaults } = (options ?? {}) as { schema?: unknown; defaults?: unknown };
  if (schema !== undefined && !isStandardSchema(schema)) {
    throw new InvalidArgumentError(
      'options.schema',
      'must be a Standard Schema v1 validator (zod, valibot, arktype, ...)',
      schema,
    );
  }
  return { schema, defaults: copyDefaults(defaults) };
}

function copyDefaults(defaults: unknown): unknown {
  if (defaults === undefined) return undefined;
  if (!isPlainObject(defaults))
    throw new InvalidArgumentError('options.defaults', 'must be a plain object', defaults);
  return deepFreeze(JSON.parse(toJson(defaults, 'options.defaults')));
}

/**
 * The outcome of evaluating the keys of a prefix. A failure names the path (below the prefix)
 * it blames, preferring one of the `changed` paths, and carries one message per problem.
 */
export type Evaluation =
  | { ok: true; value: unknown }
  | { ok: false; path: string | undefined; issues: string[] };

/**
 * Maps `entries` to a nested object, merges it over the defaults and validates it. Answers
 * synchronously unless the schema's validator is asynchronous. `changed` lists the paths
 * whose write is being judged, most relevant first; a failure is blamed on one of them when
 * the problem lies there.
 */
export function evaluate(
  entries: readonly ConfigEntry[],
  changed: readonly string[],
  rules: ConfigRules,
): Evaluation | Promise<Evaluation> {
  const built = build(entries, changed, rules);
  return built.ok ? validate(built.merged, rules, () => entries, changed) : built;
}

/**
 * The first half of {@link evaluate}: the nested object `entries` map to (`tree`) and that object
 * merged over the defaults (`merged`, what the schema gets), or why the keys cannot map.
 */
export function build(
  entries: readonly ConfigEntry[],
  changed: readonly string[],
  rules: ConfigRules,
): ({ ok: true } & Built) | { ok: false; path: string | undefined; issues: string[] } {
  const built = buildTree(entries);
  if (!built.ok) {
    return {
      ok: false,
      path: built.paths.find((p) => changed.includes(p)) ?? built.paths[0],
      issues: [built.issue],
    };
  }
  const merged = rules.defaults === undefined ? built.tree : deepMerge(rules.defaults, built.tree);
  return { ok: true, tree: built.tree, merged };
}

/**
 * The second half of {@link evaluate}: `merged` through the schema (as it is without one).
 * `entries` is asked for only when a schema issue must be blamed on a key.
 */
export function validate(
  merged: unknown,
  rules: ConfigRules,
  entries: () => readonly ConfigEntry[],
  changed: readonly string[],
): Evaluation | Promise<Evaluation> {
  if (!rules.schema) return { ok: true, value: merged };
  const judge = (result: StandardResult<unknown>): Evaluation =>
    result.issues
      ? {
          ok: false,
          path: blame(result.issues, entries(), changed),
          issues: result.issues.map(formatIssue),
        }
      : { ok: true, value: result.value };
  try {
    const result = rules.schema['~standard'].validate(merged);
    return result instanceof Promise ? result.then(judge, thrown) : judge(result);
  } catch (err) {
    return thrown(err);
  }
}

// A validator that throws is a broken validator, not a broken config; it still must not let
// an unchecked value through, so the write is rejected with what it threw.
function thrown(err: unknown): Evaluation {
  return {
    ok: false,
    path: undefined,
    issues: [`the schema's validator threw: ${errorText(err)}`],
  };
}

/** 'db.pool: Expected number, received string' (the path is omitted for issues about the whole value). */
export function formatIssue(issue: StandardIssue): string {
  const path = issuePath(issue);
  return path.length > 0 ? `${path.join('.')}: ${issue.message}` : issue.message;
}

function issuePath(issue: StandardIssue): string[] {
  return (issue.path ?? []).map((s) => String(typeof s === 'object' && s !== null ? s.key : s));
}

// The key to blame for a schema issue is the one that supplied the value at the issue's path
// (or a key below it, when the issue is about an object); among candidates a changed key wins.
function blame(
  issues: ReadonlyArray<StandardIssue>,
  entries: readonly ConfigEntry[],
  changed: readonly string[],
): string | undefined {
  const at = issues[0] ? issuePath(issues[0]) : [];
  const candidates = entries
    .map((e) => ({ path: e.path, segments: splitPath(e.path) ?? [] }))
    .filter(({ segments }) => {
      const n = Math.min(segments.length, at.length);
      return segments.slice(0, n).every((s, i) => s === at[i]);
    })
    .sort((a, b) => b.segments.length - a.segments.length)
    .map((c) => c.path);
  return candidates.find((p) => changed.includes(p)) ?? candidates[0] ?? changed[0];
}
