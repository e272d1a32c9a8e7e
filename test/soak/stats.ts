// The soak's verdict: does a figure grow after warm-up? Pure functions, unit-tested in stats.test.ts.

/** One reading of every figure, taken while the churn is paused (everything released). */
export interface Sample {
  /** Seconds since the start of the run. */
  readonly at: number;
  readonly figures: Readonly<Record<Figure, number>>;
}

/** The figures the soak follows. */
export type Figure = 'heapMB' | 'handles' | 'watchers' | 'leases' | 'keys';

/**
 * How much a figure may grow from the first to the last third of the samples after warm-up
 * (median against median): `absolute` in the figure's unit, or `relative` (a fraction of the
 * first third's median), whichever is larger. Set from the noise of calm runs (see README).
 */
export interface Tolerance {
  readonly absolute: number;
  readonly relative: number;
}

export const TOLERANCES: Readonly<Record<Figure, Tolerance>> = {
  heapMB: { absolute: 4, relative: 0.1 },
  handles: { absolute: 3, relative: 0 },
  watchers: { absolute: 2, relative: 0 },
  leases: { absolute: 1, relative: 0 },
  keys: { absolute: 2, relative: 0 },
};

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Least-squares slope of `values` over `times`, per minute (0 for fewer than two points). */
export function slopePerMinute(times: readonly number[], values: readonly number[]): number {
  const n = times.length;
  if (n < 2) return 0;
  const mt = times.reduce((a, b) => a + b, 0) / n;
  const mv = values.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (times[i]! - mt) * (values[i]! - mv);
    den += (times[i]! - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

/** What the verdict found for one figure. */
export interface Verdict {
  readonly figure: Figure;
  readonly first: number;
  readonly last: number;
  readonly growth: number;
  readonly allowed: number;
  readonly slopePerMinute: number;
  readonly ok: boolean;
}

/**
 * Judges the samples taken after `warmupSeconds`: for each figure, the median of the last third
 * against the median of the first third, within its tolerance. Needs at least 6 samples after
 * warm-up (throws otherwise: a run too short to judge is not a pass).
 */
export function judge(
  samples: readonly Sample[],
  warmupSeconds: number,
  tolerances: Readonly<Record<Figure, Tolerance>> = TOLERANCES,
): Verdict[] {
  const after = samples.filter((s) => s.at >= warmupSeconds);
  if (after.length < 6) throw new Error(`only ${after.length} samples after warm-up: run longer`);
  const third = Math.floor(after.length / 3);
  return (Object.keys(tolerances) as Figure[]).map((figure) => {
    const values = after.map((s) => s.figures[figure]);
    const first = median(values.slice(0, third));
    const last = median(values.slice(-third));
    const { absolute, relative } = tolerances[figure];
    const allowed = Math.max(absolute, relative * first);
    const growth = last - first;
    return {
      figure,
      first,
      last,
      growth,
      allowed,
      slopePerMinute: slopePerMinute(
        after.map((s) => s.at),
        values,
      ),
      ok: growth <= allowed,
    };
  });
}
