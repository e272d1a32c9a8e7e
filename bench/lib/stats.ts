/** Order statistics of a sample set, in the samples' unit. */
export interface Summary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank quantile (q in [0, 1]) of `samples`; NaN when there are none. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** p50, p99, mean, min and max of `samples`. Throws on an empty set: a run that measured nothing is a failure. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples were collected');
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const s of samples) {
    sum += s;
    if (s < min) min = s;
    if (s > max) max = s;
  }
  return {
    n: samples.length,
    p50: quantile(samples, 0.5),
    p99: quantile(samples, 0.99),
    mean: sum / samples.length,
    min,
    max,
  };
}

/** The median of per-round values (throughputs, single timings): robust to one disturbed round. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/**
 * How much better concord did than etcd3 on a metric: > 1 means concord is better by that
 * factor, < 1 that etcd3 is. undefined when a side is missing or a value is zero.
 */
export function advantage(
  concord: number | null,
  etcd3: number | null,
  better: 'higher' | 'lower',
): number | undefined {
  if (concord === null || etcd3 === null || concord <= 0 || etcd3 <= 0) return undefined;
  return better === 'higher' ? concord / etcd3 : etcd3 / concord;
}
