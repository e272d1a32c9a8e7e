import type { VersionedMap } from '../watch/versioned-map.js';
import type { CachedView } from '../watch/view-cache.js';
import { deepEqual } from './data.js';
import { build, type ConfigRules, type Evaluation, validate } from './evaluate.js';
import { type Built, type Edit, patchBuilt } from './patch.js';
import type { ConfigKey } from './projection.js';
import { isStatusKey } from './status.js';
import { type ConfigEntry, splitPath } from './tree.js';

/**
 * What one revision of a config prefix comes to: an {@link Evaluation}, or `same` when nothing
 * the config is made of changed since the last valid revision (a write of an equal value, or a
 * resync), so the last valid value stands at the new revision. A valid `changed` outcome is
 * known to differ from the last valid value (no comparison needed).
 */
export type Judgement = Evaluation | { ok: true; same: true } | { ok: true; value: unknown; changed: true };

/**
 * Judges the Views of one config prefix, each revision whole and strictly in order: even when
 * an asynchronous validator answers out of order, judgements reach `publish` in revision order;
 * with a synchronous one, before {@link judge} returns. One Judge serves one watch of the prefix.
 *
 * Cost per revision after a valid one: the keys changed are found from the view's undo records
 * (O(keys changed)), their decoded values compared with the ones last judged, and only when one
 * differs is the config patched along the changed paths (see `patchBuilt`, rebuilt when a patch
 * cannot tell) and validated. After an invalid revision every revision is evaluated whole.
 */
export class Judge {
  readonly #prefix: string;
  readonly #rules: ConfigRules;
  readonly #publish: (judgement: Judgement, revision: bigint) => void;
  /** The entries of the last view judged, valid or not. */
  #last: VersionedMap<ConfigKey> | undefined;
  /** The last valid revision's entries and what they built; unset after an invalid one. */
  #valid: { entries: VersionedMap<ConfigKey>; built: Built } | undefined;
  /** Judgements still waiting for an asynchronous validator, chained in order. */
  #queue: Promise<void> | undefined;

  constructor(prefix: string, rules: ConfigRules, publish: (judgement: Judgement, revision: bigint) => void) {
    this.#prefix = prefix;
    this.#rules = rules;
    this.#publish = publish;
  }

  judge(view: CachedView<ConfigKey>): void {
    const step = (): Promise<void> | undefined => this.#step(view);
    if (this.#queue) {
      this.#queue = this.#queue.then(step);
    } else {
      const pending = step();
      if (!pending) return;
      this.#queue = pending;
    }
    const queued = this.#queue;
    const settle = (): void => {
      if (this.#queue === queued) this.#queue = undefined;
    };
    queued.then(settle, settle);
  }

  // Runs in revision order (after the previous step's validation settled).
  #step({ revision, entries }: CachedView<ConfigKey>): Promise<void> | undefined {
    const last = this.#last;
    this.#last = entries;
    const valid = this.#valid;
    if (valid) {
      const edits = this.#edits(valid.entries, entries);
      if (edits?.length === 0) {
        valid.entries = entries;
        this.#publish({ ok: true, same: true }, revision);
        return undefined;
      }
      const patched = edits && patchBuilt(valid.built, edits, this.#rules.defaults);
      if (edits && patched) {
        // Overwritten leaves (no key added or removed, where a default could show through) are
        // known to change the merged value; only a schema's output still needs comparing.
        const known =
          !this.#rules.schema && edits.every((e) => e.before !== undefined && e.after !== undefined);
        const changed = edits.map((e) => e.segments.join('/'));
        return this.#validate(patched, entries, changed, revision, known);
      }
    }
    const changedKeys = last ? this.#changedKeys(last, entries) : [];
    // The same invalid entries again (a resync): already reported.
    if (!valid && last && changedKeys.length === 0) return undefined;
    const changed = changedKeys.map((key) => this.#pathOf(key));
    const built = build(this.#entryList(entries), changed, this.#rules);
    if (!built.ok) {
      this.#valid = undefined;
      this.#publish(built, revision);
      return undefined;
    }
    return this.#validate(built, entries, changed, revision, false);
  }

  #validate(
    built: Built,
    entries: VersionedMap<ConfigKey>,
    changed: readonly string[],
    revision: bigint,
    known: boolean,
  ): Promise<void> | undefined {
    const outcome = validate(built.merged, this.#rules, () => this.#entryList(entries), changed);
    const finish = (evaluation: Evaluation): void => {
      this.#valid = evaluation.ok ? { entries, built } : undefined;
      this.#publish(known && evaluation.ok ? { ...evaluation, changed: true } : evaluation, revision);
    };
    if (outcome instanceof Promise) return outcome.then(finish);
    finish(outcome);
    return undefined;
  }

  /**
   * The keys whose decoded value differs between `before` and `after` (status keys skipped), or
   * undefined when one of them cannot be a config path at all (a whole evaluation reports it).
   */
  #edits(before: VersionedMap<ConfigKey>, after: VersionedMap<ConfigKey>): Edit[] | undefined {
    const edits: Edit[] = [];
    for (const key of this.#changedKeys(before, after)) {
      const was = before.get(key);
      const now = after.get(key);
      if (was && now && deepEqual(was.value, now.value)) continue;
      const segments = splitPath(this.#pathOf(key));
      if (!segments) return undefined;
      edits.push({ segments, before: was?.value, after: now?.value });
    }
    return edits;
  }

  /** Keys added, removed or written between two versions (status keys skipped): O(keys changed) within one lineage. */
  #changedKeys(before: VersionedMap<ConfigKey>, after: VersionedMap<ConfigKey>): string[] {
    const keys = after.changedSince(before) ?? wholeDiff(before, after);
    const changed: string[] = [];
    for (const key of keys) {
      if (isStatusKey(this.#prefix, key)) continue;
      if (before.get(key)?.modRevision !== after.get(key)?.modRevision) changed.push(key);
    }
    return changed;
  }

  #entryList(entries: VersionedMap<ConfigKey>): ConfigEntry[] {
    const list: ConfigEntry[] = [];
    entries.forEach((entry, key) => {
      if (!isStatusKey(this.#prefix, key)) list.push({ path: this.#pathOf(key), value: entry.value });
    });
    return list;
  }

  #pathOf(key: string): string {
    return key.slice(this.#prefix.length);
  }
}

/** Every key of either version (after a resync, or across an epoch of the map). */
function wholeDiff(before: ReadonlyMap<string, unknown>, after: ReadonlyMap<string, unknown>): Set<string> {
  return new Set([...before.keys(), ...after.keys()]);
}
