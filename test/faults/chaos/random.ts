/**
 * A small seeded pseudo-random generator (mulberry32): the same seed gives the same sequence on
 * every machine, so a fault schedule or a worker's pacing can be replayed from its seed.
 */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** One key of `weights`, chosen with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    let roll = this.next() * total;
    for (const [key, weight] of entries) {
      roll -= weight;
      if (roll < 0) return key;
    }
    return entries[entries.length - 1]![0];
  }

  /** A generator for a sub-task (e.g. one worker), independent of how much this one is used later. */
  fork(salt: number): Random {
    return new Random((this.#state ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0);
  }
}

/** The seed to use: `FAULTS_SEED` when set (to replay a run), else a fresh random one. */
export function chooseSeed(env: string | undefined): number {
  if (env !== undefined && env.trim() !== '') {
    const seed = Number(env);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`FAULTS_SEED must be an integer from 0 to ${0xffffffff}, got ${env}`);
    }
    return seed;
  }
  return Math.floor(Math.random() * 0xffffffff);
}
