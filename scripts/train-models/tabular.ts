import { DataType, GraphBuilder, attr, floatTensor, valueInfo } from './onnx';
import type { InputStats } from './manifest';
import { denseToSparse, predictLogistic, trainLogistic, type LogisticModel } from './models';
import { binaryMetrics, mean, median, mode, sd, stratifiedFolds, stratifiedSplit, type BinaryMetrics } from './stats';

/**
 * Logistic regression on a handful of tabular inputs (the diagnosis-confidence models): imputation,
 * standardisation of numeric inputs and one-hot coding of categorical ones, the L2 strength chosen
 * by cross-validation on the training split, and the same steps as an ONNX graph.
 */

export interface FeatureDef {
  name: string;
  kind: 'continuous' | 'count' | 'binary' | 'categorical';
  /** Category codes of a categorical input (one-hot columns, in this order). */
  categories?: number[];
}

/** Everything fitted on the training split that the graph and the manifest need. */
export interface Preprocessing {
  features: FeatureDef[];
  /** Per feature, in `features` order. */
  stats: InputStats[];
  imputation: { value: number; method: string }[];
  /** Of the numeric (non-categorical) features, in order. */
  numericMean: number[];
  numericSd: number[];
}

export const LAMBDA_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1];

export function fitPreprocessing(features: FeatureDef[], rows: readonly (readonly (number | null)[])[]): Preprocessing {
  const stats: InputStats[] = [];
  const imputation: { value: number; method: string }[] = [];
  features.forEach((f, j) => {
    const present = rows.map((r) => r[j]).filter((v): v is number => v !== null && Number.isFinite(v));
    const missing = rows.length - present.length;
    const value = f.kind === 'categorical' ? mode(present) : median(present);
    imputation.push({ value, method: f.kind === 'categorical' ? 'training mode' : 'training median' });
    const filled = rows.map((r) => (r[j] === null || !Number.isFinite(r[j] as number) ? value : (r[j] as number)));
    stats.push({ mean: mean(filled), sd: sd(filled), median: median(filled), min: Math.min(...filled), max: Math.max(...filled), missing });
  });
  const numeric = features.map((f, j) => [f, j] as const).filter(([f]) => f.kind !== 'categorical');
  return {
    features,
    stats,
    imputation,
    numericMean: numeric.map(([, j]) => stats[j].mean),
    numericSd: numeric.map(([, j]) => (stats[j].sd > 0 ? stats[j].sd : 1)),
  };
}

/** The model's design row: standardised numeric inputs, then one-hot categorical inputs. Missing values imputed. */
export function encodeRow(p: Preprocessing, raw: readonly (number | null)[]): number[] {
  const filled = raw.map((v, j) => (v === null || !Number.isFinite(v) ? p.imputation[j].value : v));
  const out: number[] = [];
  let k = 0;
  p.features.forEach((f, j) => {
    if (f.kind === 'categorical') return;
    out.push((filled[j] - p.numericMean[k]) / p.numericSd[k]);
    k++;
  });
  p.features.forEach((f, j) => {
    if (f.kind !== 'categorical') return;
    const v = Math.round(filled[j]);
    for (const c of f.categories ?? []) out.push(v === c ? 1 : 0);
  });
  return out;
}

export function designWidth(p: Preprocessing): number {
  return p.features.reduce((n, f) => n + (f.kind === 'categorical' ? (f.categories ?? []).length : 1), 0);
}

export interface CvResult {
  lambda: number;
  /** Mean validation log-loss per lambda of the grid. */
  scores: { lambda: number; logLoss: number; auc: number }[];
}

/** k-fold stratified CV over LAMBDA_GRID on the training rows; the lambda with the lowest mean validation log-loss. */
export function chooseLambda(features: FeatureDef[], rows: readonly (readonly (number | null)[])[], y: readonly number[], seed: number, k = 5): CvResult {
  const folds = stratifiedFolds(y, k, seed);
  const scores = LAMBDA_GRID.map((lambda) => {
    let ll = 0;
    let aucSum = 0;
    for (const fold of folds) {
      const inFold = new Set(fold);
      const trIdx = y.map((_, i) => i).filter((i) => !inFold.has(i));
      const p = fitPreprocessing(features, trIdx.map((i) => rows[i]));
      const model = trainLogistic(trIdx.map((i) => denseToSparse(encodeRow(p, rows[i]))), trIdx.map((i) => y[i]), designWidth(p), lambda);
      const probs = predictLogistic(model, fold.map((i) => denseToSparse(encodeRow(p, rows[i]))));
      const m = binaryMetrics(fold.map((i) => y[i]), probs);
      ll += m.logLoss / folds.length;
      aucSum += m.auc / folds.length;
    }
    return { lambda, logLoss: ll, auc: aucSum };
  });
  const best = scores.reduce((a, b) => (b.logLoss < a.logLoss ? b : a));
  return { lambda: best.lambda, scores };
}

export interface BinaryTabularRun {
  preprocessing: Preprocessing;
  model: LogisticModel;
  lambda: number;
  cv: CvResult;
  trainIdx: number[];
  testIdx: number[];
  testProbs: number[];
  metrics: BinaryMetrics;
}

/** Split (stratified, seeded), fit, choose lambda by CV on the training part, evaluate on the held-out part. */
export function runBinaryTabular(features: FeatureDef[], rows: readonly (readonly (number | null)[])[], y: readonly number[], testFraction: number, seed: number, threshold = 0.5): BinaryTabularRun {
  const { train, test } = stratifiedSplit(y, testFraction, seed);
  const trRows = train.map((i) => rows[i]);
  const trY = train.map((i) => y[i]);
  const cv = chooseLambda(features, trRows, trY, seed + 1000);
  const preprocessing = fitPreprocessing(features, trRows);
  const model = trainLogistic(trRows.map((r) => denseToSparse(encodeRow(preprocessing, r))), trY, designWidth(preprocessing), cv.lambda);
  const testProbs = predictLogistic(model, test.map((i) => denseToSparse(encodeRow(preprocessing, rows[i]))));
  return { preprocessing, model, lambda: cv.lambda, cv, trainIdx: train, testIdx: test, testProbs, metrics: binaryMetrics(test.map((i) => y[i]), testProbs, threshold) };
}

/**
 * The ONNX graph: one float32 input [N, 1] per feature (named as the feature); NaN replaced by the
 * imputation value; numeric inputs concatenated, standardised (Sub mean, Div sd); each categorical
 * input rounded and one-hot coded (Equal against its category codes, Cast); all concatenated;
 * MatMul + Add; Sigmoid -> `probability` [N, 1]. Also `logit` [N, 1].
 */
export function buildTabularGraph(p: Preprocessing, model: LogisticModel): { graph: GraphBuilder; inputs: ReturnType<typeof valueInfo>[]; outputs: ReturnType<typeof valueInfo>[] } {
  const g = new GraphBuilder();
  const filled = p.features.map((f, j) => {
    const fill = g.constant(floatTensor(`${f.name}_imputation`, [1, 1], [p.imputation[j].value]));
    const nan = g.op('IsNaN', [f.name], `${f.name}_is_missing`);
    return g.op('Where', [nan, fill, f.name], `${f.name}_filled`);
  });
  const parts: string[] = [];
  const numeric = p.features.map((f, j) => [f, j] as const).filter(([f]) => f.kind !== 'categorical');
  if (numeric.length) {
    const raw = numeric.length === 1 ? filled[numeric[0][1]] : g.op('Concat', numeric.map(([, j]) => filled[j]), 'numeric_raw', [attr.int('axis', 1)]);
    const centred = g.op('Sub', [raw, g.constant(floatTensor('numeric_mean', [1, numeric.length], p.numericMean))], 'numeric_centred');
    parts.push(g.op('Div', [centred, g.constant(floatTensor('numeric_sd', [1, numeric.length], p.numericSd))], 'numeric_standardised'));
  }
  p.features.forEach((f, j) => {
    if (f.kind !== 'categorical') return;
    const cats = f.categories ?? [];
    const rounded = g.op('Round', [filled[j]], `${f.name}_rounded`);
    const eq = g.op('Equal', [rounded, g.constant(floatTensor(`${f.name}_categories`, [1, cats.length], cats))], `${f.name}_is_category`);
    parts.push(g.op('Cast', [eq], `${f.name}_one_hot`, [attr.int('to', DataType.FLOAT)]));
  });
  const features = parts.length === 1 ? parts[0] : g.op('Concat', parts, 'features', [attr.int('axis', 1)]);
  const width = designWidth(p);
  const mm = g.op('MatMul', [features, g.constant(floatTensor('coefficients', [width, 1], model.weights))], 'linear');
  g.op('Add', [mm, g.constant(floatTensor('intercept', [1], [model.bias]))], 'logit');
  g.op('Sigmoid', ['logit'], 'probability');
  return {
    graph: g,
    inputs: p.features.map((f) => valueInfo(f.name, DataType.FLOAT, ['N', 1])),
    outputs: [valueInfo('probability', DataType.FLOAT, ['N', 1], 'probability of the condition, in [0, 1]'), valueInfo('logit', DataType.FLOAT, ['N', 1], 'log-odds of the condition')],
  };
}
