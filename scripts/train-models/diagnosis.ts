import { encodeModel } from './onnx';
import type { Coding, DatasetRef, InputSpec, ModelManifest } from './manifest';
import { summarise, type BinaryMetrics } from './stats';
import { buildTabularGraph, runBinaryTabular, type FeatureDef } from './tabular';
import { fmt, floatFeed, sig, type Feed, type TaskOutput } from './task';

/** A diagnosis-confidence model: logistic regression on tabular inputs bound to FHIR codes. */

export type DiagnosisInput = FeatureDef & Omit<InputSpec, 'name' | 'kind' | 'tensor' | 'training' | 'imputation'>;

export interface DiagnosisSpec {
  name: string;
  version: string;
  modelVersion: number;
  producerVersion: string;
  title: string;
  description: string;
  condition: Coding;
  data: DatasetRef;
  inputs: DiagnosisInput[];
  rows: (number | null)[][];
  labels: number[];
  positiveLabel: string;
  testFraction: number;
  seed: number;
  /** Seeds of the repeated splits summarised beside the main one. */
  repeatSeeds: number[];
  threshold: number;
  minRealInputs: number;
  /**
   * For inputs declaring neither allowedValues nor a plausibleRange: plausible from 0 to this
   * multiple of the training split's maximum (a non-negative measurement), said in `basis`.
   */
  plausibleFromTraining?: { maxMultiple: number; basis: string };
  preprocessing: string[];
  intendedUse: string;
  limitations: string[];
  cardSections: { title: string; body: string }[];
}

function metricsLines(m: BinaryMetrics): string[] {
  const [[tn, fp], [fn, tp]] = m.confusion;
  return [
    `  accuracy ${fmt(m.accuracy)}   AUC ${fmt(m.auc)}   sensitivity ${fmt(m.sensitivity)}   specificity ${fmt(m.specificity)}   PPV ${fmt(m.ppv)}   NPV ${fmt(m.npv)}   (threshold ${m.threshold})`,
    `  Brier ${fmt(m.brier, 4)}   log-loss ${fmt(m.logLoss, 4)}`,
    `  confusion (rows true, columns predicted):   predicted negative   predicted positive`,
    `                               negative   ${String(tn).padStart(18)}   ${String(fp).padStart(18)}`,
    `                               positive   ${String(fn).padStart(18)}   ${String(tp).padStart(18)}`,
  ];
}

export function trainDiagnosis(spec: DiagnosisSpec): TaskOutput {
  const features: FeatureDef[] = spec.inputs.map((i) => ({ name: i.name, kind: i.kind, categories: i.categories }));
  const run = runBinaryTabular(features, spec.rows, spec.labels, spec.testFraction, spec.seed, spec.threshold);
  const repeats = spec.repeatSeeds.map((s) => runBinaryTabular(features, spec.rows, spec.labels, spec.testFraction, s, spec.threshold).metrics);
  const acc = summarise(repeats.map((m) => m.accuracy));
  const aucs = summarise(repeats.map((m) => m.auc));
  const pct = Math.round(spec.testFraction * 100);
  const positives = spec.labels.filter((y) => y === 1).length;
  const report = [
    `${spec.name}: ${spec.rows.length} rows (${positives} ${spec.positiveLabel}); stratified ${100 - pct}/${pct} split, seed ${spec.seed}: ${run.trainIdx.length} training, ${run.testIdx.length} held out`,
    `  L2 strength (lambda) ${run.lambda}, chosen by 5-fold cross-validated log-loss on the training split`,
    `held-out metrics:`,
    ...metricsLines(run.metrics),
    `same procedure over seeds ${spec.repeatSeeds.join(', ')}: accuracy ${fmt(acc.mean)} ± ${fmt(acc.sd)}, AUC ${fmt(aucs.mean)} ± ${fmt(aucs.sd)}`,
  ].join('\n');

  const { graph, inputs, outputs } = buildTabularGraph(run.preprocessing, run.model);
  const p = run.preprocessing;
  const manifestInputs: InputSpec[] = spec.inputs.map((i, j) => {
    const { categories: _categories, ...rest } = i;
    const st = p.stats[j];
    const fromTraining = spec.plausibleFromTraining && !rest.allowedValues && !rest.plausibleRange ? spec.plausibleFromTraining : undefined;
    return {
      ...rest,
      ...(fromTraining ? { plausibleRange: { min: 0, max: sig(fromTraining.maxMultiple * st.max), basis: fromTraining.basis } } : {}),
      tensor: { elementType: 'float32', shape: ['N', 1] },
      training: { mean: sig(st.mean), sd: sig(st.sd), median: st.median, min: st.min, max: st.max, missing: st.missing },
      imputation: p.imputation[j],
    };
  });
  const manifest: Omit<ModelManifest, 'model'> = {
    schema: 'fhir-ai-server/model-manifest/1',
    name: spec.name,
    version: spec.version,
    task: 'diagnosis-confidence',
    title: spec.title,
    description: spec.description,
    condition: spec.condition,
    inputs: manifestInputs,
    minRealInputs: spec.minRealInputs,
    outputs: [
      { name: 'probability', description: `estimated probability of ${spec.condition.display} (SNOMED CT ${spec.condition.code})`, elementType: 'float32', shape: ['N', 1], range: [0, 1] },
      { name: 'logit', description: 'log-odds behind the probability (for calibration checks)', elementType: 'float32', shape: ['N', 1] },
    ],
    threshold: {
      output: 'probability',
      value: spec.threshold,
      meaning: `probability >= ${spec.threshold}: propose the condition (for a clinician to approve or reject); below: no proposal`,
    },
    training: {
      data: [spec.data],
      rows: spec.rows.length,
      split: `stratified ${100 - pct}/${pct}, seed ${spec.seed}; the shipped model is the one fitted on the ${run.trainIdx.length} training rows (the metrics are those of the ${run.testIdx.length} held-out rows)`,
      seed: spec.seed,
      preprocessing: spec.preprocessing,
      algorithm: 'logistic regression, L2-penalised (intercept not penalised), fitted by L-BFGS from zero weights',
      hyperparameters: { lambda: run.lambda, lambdaGrid: run.cv.scores.map((s) => s.lambda), cvFolds: 5, cvLogLoss: run.cv.scores.map((s) => sig(s.logLoss, 4)) },
    },
    metrics: {
      evaluation: `held-out ${pct}% (stratified, seed ${spec.seed})`,
      n: run.metrics.n,
      positives: run.metrics.positives,
      accuracy: sig(run.metrics.accuracy, 4),
      auc: sig(run.metrics.auc, 4),
      sensitivity: sig(run.metrics.sensitivity, 4),
      specificity: sig(run.metrics.specificity, 4),
      ppv: sig(run.metrics.ppv, 4),
      npv: sig(run.metrics.npv, 4),
      brier: sig(run.metrics.brier, 4),
      logLoss: sig(run.metrics.logLoss, 4),
      threshold: spec.threshold,
      confusion: { trueNegative: run.metrics.confusion[0][0], falsePositive: run.metrics.confusion[0][1], falseNegative: run.metrics.confusion[1][0], truePositive: run.metrics.confusion[1][1] },
      repeatedSplits: { seeds: spec.repeatSeeds, accuracy: { mean: sig(acc.mean, 4), sd: sig(acc.sd, 4) }, auc: { mean: sig(aucs.mean, 4), sd: sig(aucs.sd, 4) } },
    },
    intendedUse: spec.intendedUse,
    limitations: spec.limitations,
  };
  const bytes = encodeModel({
    graphName: spec.name,
    graph,
    inputs,
    outputs,
    docString: `${spec.title}. ${spec.description}`,
    metadata: metadataFor(manifest),
    producerVersion: spec.producerVersion,
    modelVersion: spec.modelVersion,
  });
  // Parity: the ONNX graph on the raw held-out rows (missing values as NaN) must give the probabilities computed here.
  const feeds: Record<string, Feed> = {};
  spec.inputs.forEach((inp, j) => {
    feeds[inp.name] = floatFeed(run.testIdx.map((i) => spec.rows[i][j] ?? NaN));
  });
  // The coefficients, one per design column, for the card.
  const columnNames: string[] = [];
  spec.inputs.forEach((i) => {
    if (i.kind !== 'categorical') columnNames.push(`\`${i.name}\` (per training sd, ${sig(p.numericSd[columnNames.length], 4)}${i.unit && i.unit !== '1' ? ` ${i.unit}` : ''})`);
  });
  spec.inputs.forEach((i) => {
    if (i.kind === 'categorical') for (const c of i.categories ?? []) columnNames.push(`\`${i.name}\` = ${c} (${i.allowedValues?.find((v) => v.value === c)?.meaning ?? c})`);
  });
  const coefficientSection = {
    title: 'Coefficients',
    body: [
      'Log-odds per standardised unit (numeric inputs) or per category (one-hot inputs), with the odds ratio. They are adjusted for every other input and penalised (L2): not causal effects, and a counter-intuitive sign (e.g. a small negative weight on a known risk factor) usually reflects correlation with other inputs in this small sample.',
      '',
      '| design column | coefficient | odds ratio |',
      '|---|---|---|',
      ...columnNames.map((c, j) => `| ${c} | ${run.model.weights[j].toFixed(3)} | ${Math.exp(run.model.weights[j]).toFixed(3)} |`),
      `| intercept | ${run.model.bias.toFixed(3)} | |`,
    ].join('\n'),
  };
  return {
    name: spec.name,
    bytes,
    manifest,
    report,
    cardSections: [coefficientSection, ...spec.cardSections],
    parity: { feeds, output: 'probability', expected: run.testProbs, tolerance: 1e-5, what: `${run.testIdx.length} held-out rows (missing values fed as NaN)` },
  };
}

/** The model's metadata_props: enough to identify it without the manifest. */
export function metadataFor(m: Omit<ModelManifest, 'model'>): [string, string][] {
  const out: [string, string][] = [
    ['fhir-ai-server:name', m.name],
    ['fhir-ai-server:version', m.version],
    ['fhir-ai-server:task', m.task],
  ];
  if (m.condition) out.push(['fhir-ai-server:condition', `${m.condition.system}|${m.condition.code}`]);
  out.push(
    ['fhir-ai-server:inputs', JSON.stringify(m.inputs.map((i) => ({ name: i.name, system: i.code.system, code: i.code.code, unit: i.unit })))],
    ['fhir-ai-server:outputs', JSON.stringify(m.outputs.map((o) => ({ name: o.name, range: o.range })))],
    ['fhir-ai-server:training-data', m.training.data.map((d) => `${d.name} (${d.licence})`).join('; ')],
    ['fhir-ai-server:intended-use', m.intendedUse],
  );
  return out;
}
