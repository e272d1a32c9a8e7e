import { isPlainObject } from '../core/validate.js';
import { InvalidArgumentError } from '../errors.js';
import type { KeyValue } from '../watch/types.js';
import type { Projection } from '../watch/view-cache.js';

/**
 * The reserved top-level area (below the Concord namespace) where config instances report what
 * they applied. It lies outside every config prefix but the empty one (which skips it, see
 * {@link isStatusKey}); a config prefix inside it is refused.
 */
export const STATUS_ROOT = 'config-status/';

/**
 * Where the instances of the config `prefix` report: `config-status/<prefix>/`, the prefix
 * without its trailing '/' and URI-encoded into ONE key segment (`app/` → `config-status/app/`,
 * `app/db/` → `config-status/app%2Fdb/`). Deterministic, so writers and instances agree
 * without configuration. One segment per prefix is what keeps areas apart: with the prefix
 * spelled out, the area of `app/` would contain the area of `app/db/`, while no encoded
 * segment contains a '/', so no area is inside another, and the encoding is one-to-one (`%`
 * itself is encoded), so no two prefixes share one. `prefix` is non-empty and ends in '/' (the
 * callers refuse the empty prefix: it has no outside).
 */
export function statusArea(prefix: string): string {
  let segment: string;
  try {
    segment = encodeURIComponent(prefix.slice(0, -1));
  } catch {
    throw new InvalidArgumentError(
      'prefix',
      'must be valid Unicode text (no unpaired surrogates) to have a status area',
    );
  }
  return `${STATUS_ROOT}${segment}/`;
}

/** True when a key seen by the config `prefix` is a status key it must skip (only the empty prefix sees them). */
export function isStatusKey(prefix: string, key: string): boolean {
  return prefix === '' && key.startsWith(STATUS_ROOT);
}

/**
 * What one instance last reported for its config, stored as JSON under its status key (the
 * revisions as decimal strings): `{ "status": "applied", "revision": "42", "at": "<ISO time>" }`
 * or `{ "status": "rejected", "revision": "43", "issues": [...], "key": "db/pool",
 * "applied": "42", "at": ... }`.
 */
export type InstanceReport =
  | { status: 'applied'; revision: bigint; at: string }
  | {
      status: 'rejected';
      /** The newest revision judged: the config was invalid for this instance there. */
      revision: bigint;
      issues: readonly string[];
      /** The config key blamed (below the prefix), when one is. */
      key?: string;
      /** The revision of the valid config the instance still runs (absent: it never had one). */
      applied?: bigint;
      at: string;
    };

/** The JSON text stored for `report`. */
export function encodeReport(report: InstanceReport): string {
  return JSON.stringify(report, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
}

/** A status key as the rollout view keeps it: the instance id and its report, or unreadable. */
export interface StatusEntry {
  readonly instance: string;
  readonly report: InstanceReport | undefined;
  readonly modRevision: bigint;
}

/**
 * The view projection of a status area (`area` from {@link statusArea}): each status key parsed
 * once per write. Keys not directly under the area, and values that are not a report (written by
 * something else), carry no report and are not counted by a rollout.
 */
export function statusProjection(area: string): Projection<StatusEntry> {
  return {
    id: 'config-status',
    project: (kv: KeyValue) => {
      const instance = kv.key.slice(area.length);
      const report = instance.includes('/') ? undefined : parseReport(kv.value.toString('utf8'));
      return Object.freeze({ instance, report, modRevision: kv.modRevision });
    },
    revisionOf: (entry) => entry.modRevision,
  };
}

/** The report in `text`, or undefined when it is not one. */
export function parseReport(text: string): InstanceReport | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isPlainObject(raw) || typeof raw.at !== 'string') return undefined;
  const revision = toRevision(raw.revision);
  if (revision === undefined) return undefined;
  if (raw.status === 'applied') return { status: 'applied', revision, at: raw.at };
  if (raw.status !== 'rejected') return undefined;
  const { issues, key } = raw;
  if (!Array.isArray(issues) || !issues.every((i) => typeof i === 'string')) return undefined;
  const applied = raw.applied === undefined ? undefined : toRevision(raw.applied);
  return {
    status: 'rejected',
    revision,
    issues: issues as string[],
    ...(typeof key === 'string' ? { key } : {}),
    ...(applied === undefined ? {} : { applied }),
    at: raw.at,
  };
}

function toRevision(value: unknown): bigint | undefined {
  return typeof value === 'string' && /^\d{1,20}$/.test(value) ? BigInt(value) : undefined;
}
