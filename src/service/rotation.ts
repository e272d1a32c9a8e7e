import type { PickStrategy, ServiceInstance } from './types.js';

/** The largest `meta.weight` honoured; larger (or non-positive, or non-numeric) weights count as 1. */
export const MAX_WEIGHT = 1_000_000;

/** An instance's weight: `meta.weight` when it is a number in (0, MAX_WEIGHT], else 1. */
export function weightOf(instance: ServiceInstance): number {
  const weight = instance.meta?.weight;
  return typeof weight === 'number' && weight > 0 && weight <= MAX_WEIGHT ? weight : 1;
}

/**
 * Chooses among a pool of instances (sorted by key), one per `next()`. Pure; `random` is
 * injectable for tests.
 *
 * - `round-robin` with equal weights visits the pool in key order, each once per round, and after
 *   a new pool continues with the instance after the last one picked (wherever it now sits), so
 *   a change neither restarts the round nor skips anyone. O(1) per pick.
 * - `round-robin` with different weights is smooth weighted round-robin as nginx does it: each
 *   instance gains its weight per pick, the one with the most is picked and pays the total, so
 *   weights 5:1:1 give a a b a c a a, interleaved rather than in runs. The credit an instance has
 *   carries over to a new pool. O(pool) per pick: meant for pools of up to a few hundred.
 * - `random` is uniform, or proportional to the weights (O(log pool) per pick).
 */
export class Rotation {
  #pool: readonly ServiceInstance[] = [];
  /** Index in `pool` of the next round-robin candidate (equal weights). */
  #cursor = 0;
  #lastKey: string | undefined;
  /** Per pool index, when the weights differ: the weight, and the credit (round-robin). */
  #weights: number[] | undefined;
  #credit: number[] = [];
  /** Running sums of the weights (random), and their total. */
  #sums: number[] = [];
  #total = 0;

  constructor(
    private readonly strategy: PickStrategy,
    private readonly random: () => number = Math.random,
  ) {}

  /** The instances picked from, in key order. */
  get pool(): readonly ServiceInstance[] {
    return this.#pool;
  }

  /** Replaces the pool (sorted by key). O(pool). */
  reset(pool: readonly ServiceInstance[]): void {
    const previous = this.#pool;
    const credit = this.#credit;
    this.#pool = pool;
    this.#cursor = this.#lastKey === undefined ? 0 : firstAfter(pool, this.#lastKey);
    const weights = pool.map(weightOf);
    const uniform = weights.every((w) => w === weights[0]);
    this.#weights = uniform ? undefined : weights;
    this.#total = weights.reduce((sum, w) => sum + w, 0);
    if (this.strategy === 'random') {
      let sum = 0;
      this.#sums = uniform ? [] : weights.map((w) => (sum += w));
    } else if (uniform) {
      this.#credit = [];
    } else {
      // `credit` belongs to `previous` (it is empty when that pool had equal weights).
      const carried = new Map(previous.map((instance, i) => [instance.key, credit[i] ?? 0]));
      this.#credit = pool.map((instance) => carried.get(instance.key) ?? 0);
    }
  }

  /** The next instance, or undefined when the pool is empty. */
  next(): ServiceInstance | undefined {
    const pool = this.#pool;
    const n = pool.length;
    if (n === 0) return undefined;
    if (this.strategy === 'random') {
      if (this.#weights === undefined) return pool[Math.floor(this.random() * n)];
      return pool[firstAbove(this.#sums, this.random() * this.#total)];
    }
    const picked = this.#weights === undefined ? this.#nextInTurn(pool) : this.#nextWeighted(pool);
    this.#lastKey = picked.key;
    return picked;
  }

  #nextInTurn(pool: readonly ServiceInstance[]): ServiceInstance {
    if (this.#cursor >= pool.length) this.#cursor = 0;
    return pool[this.#cursor++]!;
  }

  #nextWeighted(pool: readonly ServiceInstance[]): ServiceInstance {
    const weights = this.#weights!;
    const credit = this.#credit;
    let best = 0;
    for (let i = 0; i < pool.length; i++) {
      credit[i]! += weights[i]!;
      if (credit[i]! > credit[best]!) best = i;
    }
    credit[best]! -= this.#total;
    return pool[best]!;
  }
}

/** Index of the first instance whose key sorts after `key` (binary search; `list` is sorted by key). */
function firstAfter(list: readonly ServiceInstance[], key: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.key <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first running sum above `x` (binary search; `sums` increases, x < its last). */
function firstAbove(sums: readonly number[], x: number): number {
  let lo = 0;
  let hi = sums.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sums[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
