/** p50 / p95 of a set of durations (seconds), by nearest rank; null when there are none. */
export interface Percentiles {
  count: number;
  p50: number | null;
  p95: number | null;
}

/**
 * Nearest-rank percentile (no interpolation, so every figure is a response time that happened):
 * the smallest value such that at least p% of the values are ≤ it, i.e. sorted[ceil(p/100·n) − 1].
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function percentiles(values: readonly number[]): Percentiles {
  return { count: values.length, p50: percentile(values, 50), p95: percentile(values, 95) };
}
