import type { ManifestInput, ManifestOutput } from '../model-manifest';

/**
 * The statistics of a model version's predictions, as pure functions: latency percentiles, the
 * score distribution, drift of each input against the training distribution in the model card,
 * and the agreement of a shadow version with the active one.
 */

export interface Summary {
  n: number;
  mean: number | null;
  sd: number | null;
  min: number | null;
  max: number | null;
}

/** Mean, sample standard deviation, min and max (nulls when there are no values). */
export function summarize(values: number[]): Summary {
  const n = values.length;
  if (!n) return { n, mean: null, sd: null, min: null, max: null };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, sd, min: Math.min(...values), max: Math.max(...values) };
}

/** The p-th percentile (0..100) of values, by linear interpolation between closest ranks; null when empty. */
export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export interface LatencyStats {
  n: number;
  p50: number | null;
  p95: number | null;
  mean: number | null;
  max: number | null;
}

export function latencyStats(ms: number[]): LatencyStats {
  const s = summarize(ms);
  return { n: s.n, p50: round(percentile(ms, 50)), p95: round(percentile(ms, 95)), mean: round(s.mean), max: round(s.max) };
}

export interface HistogramBin {
  from: number;
  to: number;
  /** For a labelled (categorical) output: the class's label. */
  label?: string;
  count: number;
}

export interface ScoreDistribution {
  output: string;
  range: [number, number] | null;
  n: number;
  mean: number | null;
  sd: number | null;
  min: number | null;
  max: number | null;
  bins: HistogramBin[];
}

/**
 * The distribution of a score over its output's range: one bin per class for a labelled integer
 * output (triage priority 1..5), else `binCount` equal-width bins over the declared range (or the
 * observed one when none is declared). Values outside the range fall in the end bins.
 */
export function scoreDistribution(output: ManifestOutput | undefined, name: string, scores: number[], binCount = 10): ScoreDistribution {
  const s = summarize(scores);
  const declared = output?.range ? ([output.range[0], output.range[1]] as [number, number]) : null;
  const range = declared ?? (s.n ? ([s.min, s.max] as [number, number]) : null);
  let bins: HistogramBin[] = [];
  if (output?.labels?.length && output.elementType.startsWith('int') && range) {
    bins = output.labels.map((label, i) => ({ from: range[0] + i, to: range[0] + i, label, count: 0 }));
    for (const v of scores) {
      const i = Math.min(bins.length - 1, Math.max(0, Math.round(v) - range[0]));
      bins[i].count++;
    }
  } else if (range) {
    const width = (range[1] - range[0]) / binCount;
    bins = Array.from({ length: binCount }, (_, i) => ({ from: round(range[0] + i * width, 6)!, to: round(range[0] + (i + 1) * width, 6)!, count: 0 }));
    for (const v of scores) {
      const i = width > 0 ? Math.min(binCount - 1, Math.max(0, Math.floor((v - range[0]) / width))) : 0;
      bins[i].count++;
    }
  }
  return { output: name, range, n: s.n, mean: round(s.mean, 6), sd: round(s.sd, 6), min: s.min, max: s.max, bins };
}

/** Standard normal cumulative distribution (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Share floor for an empty bin in the PSI, so that ln(0) never occurs (the usual practice). */
const PSI_EPSILON = 1e-4;

/** Population stability index: Σ (actual − expected) · ln(actual / expected) over bins of shares. */
export function psi(expected: number[], actual: number[]): number {
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i], PSI_EPSILON);
    const a = Math.max(actual[i], PSI_EPSILON);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/** Fewer observed values than this and drift is not judged (the indices are too noisy). */
export const MIN_DRIFT_VALUES = 30;
/** Conventional PSI bands: < 0.1 stable, 0.1-0.25 moderate shift, >= 0.25 significant shift. */
export const PSI_MODERATE = 0.1;
export const PSI_SIGNIFICANT = 0.25;
/** Standardised mean difference bands (Cohen): 0.2 small, 0.5 medium. */
export const SMD_MODERATE = 0.2;
export const SMD_SIGNIFICANT = 0.5;
/** More than this share of jobs lacking an input is worth saying (the card's imputation stands in for it). */
export const IMPUTED_WARNING_SHARE = 0.5;

export type DriftLevel = 'none' | 'moderate' | 'significant' | 'insufficient-data' | 'not-assessed';

export interface InputDrift {
  input: string;
  kind: ManifestInput['kind'];
  /** Jobs that fed this input: observed values, and how many were imputed instead. */
  observed: number;
  imputed: number;
  imputedShare: number | null;
  live: Summary;
  training: ManifestInput['training'] | null;
  /** (live mean − training mean) / pooled sd. */
  smd: number | null;
  psi: number | null;
  /** How the PSI's bins were made. */
  bins: 'normal-deciles' | 'normal-integers' | 'bernoulli' | null;
  /** Share of observed values outside the training [min, max]. */
  outsideTrainingRange: number | null;
  level: DriftLevel;
  message: string;
}

/**
 * Drift of one input's observed (not imputed) live values against the training distribution in
 * the model card, which gives only mean, sd, median, min and max. Method: the standardised mean
 * difference (live mean − training mean) / sqrt((sd_live² + sd_train²) / 2), and the population
 * stability index of the live values against a normal approximation of the training distribution:
 * ten equal-probability bins of N(mean, sd) for continuous inputs; one bin per integer value between
 * the training min and max (normal probabilities of v ± 0.5, tails folded into the end bins) for
 * categorical and count inputs; two bins with P(1) = the training mean for binary inputs. A skewed
 * training distribution makes the normal approximation itself show some PSI, so the SMD and the
 * share outside the training range are reported beside it.
 */
export function inputDrift(input: ManifestInput, observed: number[], imputed: number): InputDrift {
  const live = summarize(observed);
  const total = observed.length + imputed;
  const imputedShare = total ? imputed / total : null;
  const base = { input: input.name, kind: input.kind, observed: observed.length, imputed, imputedShare: round(imputedShare, 4), live: roundSummary(live) };
  const t = input.training;
  if (!t || input.kind === 'text') {
    return { ...base, training: null, smd: null, psi: null, bins: null, outsideTrainingRange: null, level: 'not-assessed', message: `${input.name}: the model card gives no training distribution for this input; drift not assessed` };
  }
  const missingNote = imputedShare !== null && imputedShare > IMPUTED_WARNING_SHARE ? `; ${pct(imputedShare)} of jobs lacked it and used the card's imputation` : '';
  if (observed.length < MIN_DRIFT_VALUES) {
    return {
      ...base, training: t, smd: null, psi: null, bins: null, outsideTrainingRange: null, level: 'insufficient-data',
      message: `${input.name}: only ${observed.length} observed value${observed.length === 1 ? '' : 's'} (at least ${MIN_DRIFT_VALUES} are needed to judge drift)${missingNote}`,
    };
  }
  const pooled = Math.sqrt(((live.sd ?? 0) ** 2 + t.sd ** 2) / 2);
  const smd = pooled > 0 ? ((live.mean as number) - t.mean) / pooled : 0;
  const { expected, actual, bins } = binShares(input.kind, t, observed);
  const p = psi(expected, actual);
  const outside = observed.filter((v) => v < t.min || v > t.max).length / observed.length;
  const level: DriftLevel =
    p >= PSI_SIGNIFICANT || Math.abs(smd) >= SMD_SIGNIFICANT ? 'significant' : p >= PSI_MODERATE || Math.abs(smd) >= SMD_MODERATE ? 'moderate' : 'none';
  const direction = Math.abs(smd) < SMD_MODERATE ? 'close to training' : smd > 0 ? 'higher than in training' : 'lower than in training';
  const verdict = level === 'significant' ? 'significant drift: predictions on these inputs may be less reliable than the card says' : level === 'moderate' ? 'moderate drift: worth watching' : 'no drift detected';
  const range = outside > 0 ? `, ${pct(outside)} outside the training range ${t.min}..${t.max}` : '';
  return {
    ...base, training: t, smd: round(smd, 4), psi: round(p, 4), bins, outsideTrainingRange: round(outside, 4), level,
    message: `${input.name}: live values ${direction} (mean ${fmt(live.mean as number)} vs ${fmt(t.mean)}, SMD ${smd >= 0 ? '+' : ''}${fmt(smd)}, PSI ${fmt(p)}${range}): ${verdict}${missingNote}`,
  };
}

function binShares(kind: ManifestInput['kind'], t: NonNullable<ManifestInput['training']>, values: number[]): { expected: number[]; actual: number[]; bins: InputDrift['bins'] } {
  const n = values.length;
  if (kind === 'binary') {
    const p1 = Math.min(1, Math.max(0, t.mean));
    const ones = values.filter((v) => v >= 0.5).length;
    return { expected: [1 - p1, p1], actual: [(n - ones) / n, ones / n], bins: 'bernoulli' };
  }
  const sd = t.sd > 0 ? t.sd : 1e-9;
  const lo = Math.round(t.min);
  const hi = Math.round(t.max);
  if ((kind === 'categorical' || kind === 'count') && hi - lo <= 30) {
    const k = hi - lo + 1;
    const cdf = (x: number) => normalCdf((x - t.mean) / sd);
    const expected = Array.from({ length: k }, (_, i) => (i === k - 1 ? 1 : cdf(lo + i + 0.5)) - (i === 0 ? 0 : cdf(lo + i - 0.5)));
    const actual = new Array<number>(k).fill(0);
    for (const v of values) actual[Math.min(k - 1, Math.max(0, Math.round(v) - lo))] += 1 / n;
    return { expected, actual, bins: 'normal-integers' };
  }
  // Ten equal-probability bins of the training normal: expected 0.1 each.
  const edges = Array.from({ length: 9 }, (_, i) => t.mean + sd * normalQuantile((i + 1) / 10));
  const actual = new Array<number>(10).fill(0);
  for (const v of values) {
    let i = 0;
    while (i < 9 && v >= edges[i]) i++;
    actual[i] += 1 / n;
  }
  return { expected: new Array<number>(10).fill(0.1), actual, bins: 'normal-deciles' };
}

export interface ScoredPrediction {
  score: number | null;
  label: string | null;
}

export interface Agreement {
  /** Jobs both versions scored. */
  pairs: number;
  sameClass: number;
  /** sameClass / pairs. */
  share: number | null;
  meanAbsDifference: number | null;
  p95AbsDifference: number | null;
  maxAbsDifference: number | null;
  /** Jobs where only one of the two gave a score (e.g. too few inputs for one of them). */
  onlyOneScored: number;
  message: string;
}

/** How far a shadow version agrees with the active one on the same jobs: same class, and |score difference|. */
export function agreement(pairs: Array<{ active: ScoredPrediction; shadow: ScoredPrediction }>): Agreement {
  const both = pairs.filter((p) => p.active.score !== null && p.shadow.score !== null);
  const onlyOne = pairs.filter((p) => (p.active.score === null) !== (p.shadow.score === null)).length;
  const same = both.filter((p) => p.active.label === p.shadow.label).length;
  const diffs = both.map((p) => Math.abs((p.active.score as number) - (p.shadow.score as number)));
  const share = both.length ? same / both.length : null;
  return {
    pairs: both.length,
    sameClass: same,
    share: round(share, 4),
    meanAbsDifference: round(summarize(diffs).mean, 6),
    p95AbsDifference: round(percentile(diffs, 95), 6),
    maxAbsDifference: round(summarize(diffs).max, 6),
    onlyOneScored: onlyOne,
    message: both.length
      ? `agrees with the active version on the class in ${same} of ${both.length} jobs (${pct(share as number)}); mean |score difference| ${fmt(summarize(diffs).mean as number)}`
      : 'no job scored by both this version and the active one yet',
  };
}

function roundSummary(s: Summary): Summary {
  return { n: s.n, mean: round(s.mean, 6), sd: round(s.sd, 6), min: s.min, max: s.max };
}

function round(v: number | null, digits = 3): number | null {
  if (v === null || !Number.isFinite(v)) return v === null ? null : v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

function pct(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}
