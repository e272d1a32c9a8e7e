// Instances of one service often carry equal values: the same `meta` (zone, version) across a
// fleet, the same `registeredAt` and revision when a batch was written in one transaction. Each
// parse makes its own copies; a catalog keeps one per distinct value instead, so a large service
// costs memory per instance only for what differs (for 10,000 instances with three zones, about
// 100 bytes each less).

/** Distinct `meta` objects remembered: enough for the zones and versions of a fleet, cheap to scan. */
const RECENT_METAS = 8;

/** A JSON value as `JSON.parse` makes it. */
type Json = unknown;

/**
 * Hands out one object per distinct value among the values it is given (a string equal to the
 * last one, a bigint equal to the last one, a `meta` deeply equal, key order included, to one of
 * the last few distinct ones), so equal values read from different keys share memory. Every
 * `meta` it returns is deeply frozen: shared by several instances (and every subscriber), it
 * must not change under any of them. Holds only a bounded number of recent values.
 */
export class SharedValues {
  #string: string | undefined;
  #revision: bigint | undefined;
  readonly #metas: Record<string, unknown>[] = [];

  /** `text`, or an equal string handed out just before. */
  string(text: string): string {
    if (text === this.#string) return this.#string;
    this.#string = text;
    return text;
  }

  /** `revision`, or an equal bigint handed out just before (keys written by one transaction share it). */
  revision(revision: bigint): bigint {
    if (revision === this.#revision) return this.#revision;
    this.#revision = revision;
    return revision;
  }

  /** A deeply frozen `meta` equal to the given one (which may be frozen and returned itself). */
  meta(meta: Record<string, unknown>): Record<string, unknown> {
    const metas = this.#metas;
    for (let i = 0; i < metas.length; i++) {
      const known = metas[i]!;
      if (!jsonEqual(known, meta)) continue;
      // Most recently matched first: a fleet's common metas stay at the front.
      if (i > 0) metas.copyWithin(1, 0, i)[0] = known;
      return known;
    }
    deepFreeze(meta);
    metas.unshift(meta);
    if (metas.length > RECENT_METAS) metas.pop();
    return meta;
  }
}

/** Whether two values parsed from JSON are equal, object keys compared in order (as their JSON texts would be). */
function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, Json>;
  const rb = b as Record<string, Json>;
  for (let i = 0; i < ka.length; i++) {
    const key = ka[i]!;
    if (key !== kb[i] || !jsonEqual(ra[key], rb[key])) return false;
  }
  return true;
}

function deepFreeze(value: Json): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
}
