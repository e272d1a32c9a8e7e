/** One side of an A/B comparison: runs round `round` and returns what it measured. */
export type Side<T> = (round: number) => Promise<T>;

/**
 * Runs `rounds` rounds of each side, alternating the order (concord first in even rounds, etcd3
 * first in odd ones), so that drift on a noisy machine and warm-up effects hit both sides
 * alike. A missing concord side (primitive not available) runs etcd3 alone. `warmupRounds`
 * rounds of each side run first and are not returned: until V8 has compiled a path (a few
 * thousand calls) its tail is milliseconds long, which is the process's start, not its steady
 * state (Go's peers are compiled ahead of time).
 */
export async function alternate<T>(
  rounds: number,
  sides: { concord: Side<T> | undefined; etcd3: Side<T> },
  signal: AbortSignal,
  report: (message: string) => void,
  { warmupRounds = 0 }: { warmupRounds?: number } = {},
): Promise<{ concord: T[]; etcd3: T[] }> {
  const out = { concord: [] as T[], etcd3: [] as T[] };
  for (let round = -warmupRounds; round < rounds; round++) {
    const order = round % 2 === 0 ? (['concord', 'etcd3'] as const) : (['etcd3', 'concord'] as const);
    for (const side of order) {
      const run = sides[side];
      if (!run) continue;
      signal.throwIfAborted();
      if (round < 0) {
        report(`warm-up round · ${side}`);
        await run(round);
        continue;
      }
      report(`round ${round + 1}/${rounds} · ${side}`);
      out[side].push(await run(round));
    }
  }
  return out;
}
