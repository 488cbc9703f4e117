import { Prng } from './prng';

/** Descriptive statistics, standardisation, stratified splits and evaluation metrics. Pure. */

export function mean(xs: readonly number[]): number {
  if (!xs.length) throw new Error('mean of no values');
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n - 1). */
export function sd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / (xs.length - 1));
}

export function median(xs: readonly number[]): number {
  if (!xs.length) throw new Error('median of no values');
  const a = xs.slice().sort((p, q) => p - q);
  const mid = a.length >> 1;
  return a.length % 2 ? a[mid] : (a[mid - 1] + a[mid]) / 2;
}

/** The most frequent value; ties go to the smallest. */
export function mode(xs: readonly number[]): number {
  if (!xs.length) throw new Error('mode of no values');
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best = NaN;
  let bestCount = -1;
  for (const [v, c] of [...counts].sort((p, q) => p[0] - q[0])) {
    if (c > bestCount) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

export interface Scaler {
  mean: number[];
  sd: number[];
}

/** Column means and sample standard deviations; a constant column gets sd 1 (so it maps to 0). */
export function fitScaler(rows: readonly (readonly number[])[]): Scaler {
  if (!rows.length) throw new Error('cannot fit a scaler on no rows');
  const d = rows[0].length;
  const m: number[] = [];
  const s: number[] = [];
  for (let j = 0; j < d; j++) {
    const col = rows.map((r) => r[j]);
    m.push(mean(col));
    const v = sd(col);
    s.push(v > 0 ? v : 1);
  }
  return { mean: m, sd: s };
}

export function standardise(rows: readonly (readonly number[])[], scaler: Scaler): number[][] {
  return rows.map((r) => r.map((x, j) => (x - scaler.mean[j]) / scaler.sd[j]));
}

export interface Split {
  train: number[];
  test: number[];
}

/**
 * Stratified split of row indices: within each class (in order of first appearance of the label
 * value, sorted), a seeded shuffle, then round(testFraction * n_class) rows to test. Both lists
 * come back in ascending index order.
 */
export function stratifiedSplit(labels: readonly number[], testFraction: number, seed: number): Split {
  if (!(testFraction > 0 && testFraction < 1)) throw new Error('testFraction must be in (0, 1)');
  const prng = new Prng(seed);
  const classes = [...new Set(labels)].sort((a, b) => a - b);
  const train: number[] = [];
  const test: number[] = [];
  for (const c of classes) {
    const idx = prng.shuffle(labels.map((l, i) => (l === c ? i : -1)).filter((i) => i >= 0));
    const nTest = Math.round(testFraction * idx.length);
    test.push(...idx.slice(0, nTest));
    train.push(...idx.slice(nTest));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

/** k stratified folds (each a list of indices into `labels`), seeded. */
export function stratifiedFolds(labels: readonly number[], k: number, seed: number): number[][] {
  const prng = new Prng(seed);
  const folds: number[][] = Array.from({ length: k }, () => []);
  const classes = [...new Set(labels)].sort((a, b) => a - b);
  let offset = 0;
  for (const c of classes) {
    const idx = prng.shuffle(labels.map((l, i) => (l === c ? i : -1)).filter((i) => i >= 0));
    idx.forEach((i, n) => folds[(n + offset) % k].push(i));
    offset += idx.length;
  }
  return folds.map((f) => f.sort((a, b) => a - b));
}

export function accuracy(yTrue: readonly number[], yPred: readonly number[]): number {
  let ok = 0;
  yTrue.forEach((y, i) => (ok += y === yPred[i] ? 1 : 0));
  return ok / yTrue.length;
}

/** Area under the ROC curve (Mann-Whitney U with mid-ranks for ties). Labels 0/1. */
export function auc(yTrue: readonly number[], scores: readonly number[]): number {
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = r;
    i = j + 1;
  }
  let nPos = 0;
  let rankSum = 0;
  yTrue.forEach((y, i) => {
    if (y === 1) {
      nPos++;
      rankSum += ranks[i];
    }
  });
  const nNeg = yTrue.length - nPos;
  if (!nPos || !nNeg) return NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** matrix[t][p]: rows with true class t predicted as p (classes 0..k-1). */
export function confusionMatrix(yTrue: readonly number[], yPred: readonly number[], k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  yTrue.forEach((t, i) => m[t][yPred[i]]++);
  return m;
}

export interface BinaryMetrics {
  n: number;
  positives: number;
  accuracy: number;
  auc: number;
  sensitivity: number;
  specificity: number;
  /** Positive predictive value. */
  ppv: number;
  /** Negative predictive value. */
  npv: number;
  brier: number;
  logLoss: number;
  threshold: number;
  /** [[TN, FP], [FN, TP]] */
  confusion: number[][];
}

export function binaryMetrics(yTrue: readonly number[], probs: readonly number[], threshold = 0.5): BinaryMetrics {
  const pred = probs.map((p) => (p >= threshold ? 1 : 0));
  const cm = confusionMatrix(yTrue, pred, 2);
  const [[tn, fp], [fn, tp]] = cm;
  let brier = 0;
  let ll = 0;
  yTrue.forEach((y, i) => {
    const p = Math.min(1 - 1e-12, Math.max(1e-12, probs[i]));
    brier += (probs[i] - y) ** 2;
    ll -= y ? Math.log(p) : Math.log(1 - p);
  });
  return {
    n: yTrue.length,
    positives: tp + fn,
    accuracy: (tp + tn) / yTrue.length,
    auc: auc(yTrue, probs),
    sensitivity: tp / (tp + fn),
    specificity: tn / (tn + fp),
    ppv: tp / (tp + fp),
    npv: tn / (tn + fn),
    brier: brier / yTrue.length,
    logLoss: ll / yTrue.length,
    threshold,
    confusion: cm,
  };
}

/** Mean and sample sd of a list of figures, for repeated-split summaries. */
export function summarise(xs: readonly number[]): { mean: number; sd: number } {
  return { mean: mean(xs), sd: sd(xs) };
}

export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
