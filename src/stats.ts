/**
 * Order statistics, defined once for the CLI's benchmarks (`earshot model bench`), the evaluation
 * figures (src/eval/metrics.ts) and the microphone meter (src/monitor/microphone-meter.ts).
 * Both take values already in ascending order, so a caller sorts once (a copy, or in place when the
 * array is its own) and reads several statistics.
 */

/**
 * The nearest-rank percentile of ascending `sorted` (the smallest value with at least p % of the
 * values at or below it): `sorted[⌈p / 100 · n⌉ − 1]`, clamped to the first and last value.
 * Hyndman & Fan's definition 1, as numpy's `method='inverted_cdf'`.
 * @param p the percentile, 0..100 (e.g. 50, 95, 99)
 * @returns the value, or NaN for an empty list
 */
export function nearestRankOfSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
}

/**
 * The median of ascending `sorted`: the middle value, or the mean of the two middle values for
 * an even count.
 * @returns the median, or NaN for an empty list
 */
export function medianOfSorted(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}
