/** One side of an A/B comparison: runs round `round` and returns what it measured. */
export type Side<T> = (round: number) => Promise<T>;

/**
 * Runs `rounds` rounds of each side, alternating the order (concord first in even rounds, etcd3
 * first in odd ones), so that drift on a noisy machine and warm-up effects hit both sides
 * alike. A missing concord side (primitive not available) runs etcd3 alone.
 */
export async function alternate<T>(
  rounds: number,
  sides: { concord: Side<T> | undefined; etcd3: Side<T> },
  signal: AbortSignal,
  report: (message: string) => void,
): Promise<{ concord: T[]; etcd3: T[] }> {
  const out = { concord: [] as T[], etcd3: [] as T[] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['concord', 'etcd3'] as const) : (['etcd3', 'concord'] as const);
    for (const side of order) {
      const run = sides[side];
      if (!run) continue;
      signal.throwIfAborted();
      report(`round ${round + 1}/${rounds} · ${side}`);
      out[side].push(await run(round));
    }
  }
  return out;
}
