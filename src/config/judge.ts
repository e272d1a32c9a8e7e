import type { KeyValue, View } from '../watch/types.js';
import { type ConfigRules, type Evaluation, evaluate } from './evaluate.js';
import { type ConfigEntry, decodeValue } from './tree.js';

/**
 * Judges the Views of one config prefix, each revision whole and strictly in order: even when
 * an asynchronous validator answers out of order, outcomes reach `publish` in revision order;
 * with a synchronous one, before {@link judge} returns. A View with the same entries as the one
 * judged last (a resync) is not judged again. One Judge serves one watch of the prefix.
 */
export class Judge {
  readonly #prefix: string;
  readonly #rules: ConfigRules;
  readonly #publish: (outcome: Evaluation, revision: bigint) => void;
  /** The entries last judged. */
  #judged: ReadonlyMap<string, KeyValue> | undefined;
  /** Judgements still waiting for an asynchronous validator, chained in order. */
  #queue: Promise<void> | undefined;

  constructor(prefix: string, rules: ConfigRules, publish: (outcome: Evaluation, revision: bigint) => void) {
    this.#prefix = prefix;
    this.#rules = rules;
    this.#publish = publish;
  }

  judge(view: View): void {
    const previous = this.#judged;
    if (previous && sameEntries(previous, view.entries)) return;
    this.#judged = view.entries;
    const changed = this.#changedPaths(previous, view);
    const entries: ConfigEntry[] = [];
    for (const kv of view.entries.values()) {
      entries.push({ path: this.#pathOf(kv.key), value: decodeValue(kv.value) });
    }
    const step = (): Promise<void> | undefined => {
      const outcome = evaluate(entries, changed, this.#rules);
      if (outcome instanceof Promise) return outcome.then((o) => this.#publish(o, view.revision));
      this.#publish(outcome, view.revision);
      return undefined;
    };
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

  #pathOf(key: string): string {
    return key.slice(this.#prefix.length);
  }

  // Paths whose key was written or deleted since the previous evaluation, writes first: the
  // candidates to blame when this revision turns out invalid.
  #changedPaths(previous: ReadonlyMap<string, KeyValue> | undefined, view: View): string[] {
    const changed: string[] = [];
    for (const kv of view.entries.values()) {
      if (previous?.get(kv.key)?.modRevision !== kv.modRevision) changed.push(this.#pathOf(kv.key));
    }
    if (previous) {
      for (const key of previous.keys()) if (!view.entries.has(key)) changed.push(this.#pathOf(key));
    }
    return changed;
  }
}

function sameEntries(a: ReadonlyMap<string, KeyValue>, b: ReadonlyMap<string, KeyValue>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [key, kv] of a) if (b.get(key)?.modRevision !== kv.modRevision) return false;
  return true;
}
