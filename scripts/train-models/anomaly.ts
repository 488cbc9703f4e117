import { ANOMALY_VITALS, BASELINE, DEVIATION_INPUT, anomalyRow, type VitalName } from '../../src/ai/features/anomaly.features';
import type { InputSpec, ModelManifest } from './manifest';
import { metadataFor } from './diagnosis';
import { argmax, predictNet } from './models';
import { fitMlp, mlpLogits } from './mlp';
import { scorePulse, scoreRespiration, scoreSpo2Scale1, scoreSystolic, scoreTemperature } from './news2';
import { DataType, GraphBuilder, encodeModel, floatTensor, valueInfo } from './onnx';
import { Prng } from './prng';
import { binaryMetrics, mean, median, sd } from './stats';
import { fmt, floatFeed, sig, type Feed, type TaskOutput } from './task';

/**
 * vitals-anomaly: whether one vital-sign reading (a wearable's or an ICU monitor's) is anomalous:
 * a dangerous value (NEWS2's most extreme band for that parameter) or a sudden change from the
 * patient's own recent readings. No public labelled ICU or wearable data set is available here,
 * so readings and their baselines are generated and labelled by those two rules; the network
 * (6 -> 16 tanh -> 2 softmax) learns them, and the graph gives P(anomalous).
 */

export const SAMPLES = 20000;
export const DATA_SEED = 2;
export const SPLIT_SEED = 1;
export const INIT_SEED = 1;
export const HIDDEN = 16;
export const LAMBDA = 1e-5;
export const MAX_ITERATIONS = 2000;
/** Deviations from the baseline at or beyond this many robust SDs are "sudden". */
export const DEVIATION_LIMIT = 4;

/** NEWS2's most extreme band of each parameter: score 3 (temperature: its top band, 39.1 Cel and above, scores 2). */
export function dangerous(name: VitalName, value: number): boolean {
  switch (name) {
    case 'heart_rate':
      return scorePulse(value) === 3;
    case 'respiratory_rate':
      return scoreRespiration(value) === 3;
    case 'spo2':
      return scoreSpo2Scale1(value) === 3;
    case 'systolic_bp':
      return scoreSystolic(value) === 3;
    case 'temperature':
      return scoreTemperature(value) === 3 || value > 39.0;
  }
}

/** The label: any dangerous value, or a deviation of DEVIATION_LIMIT robust SDs or more. */
export function anomalyLabel(values: Partial<Record<VitalName, number>>, deviation: number | undefined): { anomalous: boolean; dangerous: boolean; sudden: boolean } {
  const danger = (Object.entries(values) as Array<[VitalName, number]>).some(([k, v]) => dangerous(k, v));
  const sudden = deviation !== undefined && deviation >= DEVIATION_LIMIT;
  return { anomalous: danger || sudden, dangerous: danger, sudden };
}

/** A patient's usual range of each vital, the widest plausible range, and how values are charted. */
const RANGES: Record<VitalName, { usual: [number, number]; coverage: [number, number]; danger: Array<[number, number]>; decimals: number }> = {
  heart_rate: { usual: [55, 105], coverage: [25, 190], danger: [[25, 40], [131, 190]], decimals: 0 },
  respiratory_rate: { usual: [12, 21], coverage: [4, 45], danger: [[4, 8], [25, 45]], decimals: 0 },
  spo2: { usual: [93, 99], coverage: [75, 100], danger: [[75, 91]], decimals: 0 },
  systolic_bp: { usual: [100, 165], coverage: [55, 250], danger: [[55, 90], [220, 250]], decimals: 0 },
  temperature: { usual: [36.2, 37.8], coverage: [33, 41.5], danger: [[33, 35], [39.1, 41.5]], decimals: 1 },
};

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

export interface SyntheticReading {
  values: Partial<Record<VitalName, number>>;
  baselines: Partial<Record<VitalName, number[]>>;
  scenario: string;
}

/**
 * Generated readings: a single vital (3 in 4) or an ICU panel of all five, each with a baseline
 * of 0 to 20 earlier readings drawn around the patient's usual value, and a current value that is
 * stable, a sudden shift of 2-9 spreads, anywhere in the plausible range, or in a dangerous band.
 */
export function generateReadings(n: number, seed: number): SyntheticReading[] {
  const prng = new Prng(seed);
  const out: SyntheticReading[] = [];
  for (let i = 0; i < n; i++) {
    const panel = prng.chance(0.25);
    const vitals = panel ? ANOMALY_VITALS : [ANOMALY_VITALS[prng.int(ANOMALY_VITALS.length)]];
    const countKind = prng.pick([0.12, 0.08, 0.8]);
    const count = countKind === 0 ? 0 : countKind === 1 ? 1 + prng.int(2) : BASELINE.minReadings + prng.int(BASELINE.maxReadings - BASELINE.minReadings + 1);
    const values: SyntheticReading['values'] = {};
    const baselines: SyntheticReading['baselines'] = {};
    const scenarios: string[] = [];
    for (const v of vitals) {
      const r = RANGES[v.name];
      const clamp = (x: number) => Math.min(r.coverage[1], Math.max(r.coverage[0], x));
      const usual = prng.uniform(r.usual[0], r.usual[1]);
      const spread = v.scaleFloor * prng.uniform(0.3, 1.3);
      baselines[v.name] = Array.from({ length: count }, () => round(clamp(prng.normal(usual, spread)), r.decimals));
      const scenario = prng.pick(panel ? [0.8, 0.08, 0.06, 0.06] : [0.5, 0.2, 0.15, 0.15]);
      let value: number;
      if (scenario === 0) value = prng.normal(usual, spread);
      else if (scenario === 1) value = usual + (prng.chance(0.5) ? 1 : -1) * prng.uniform(2, 9) * Math.max(spread, v.scaleFloor);
      else if (scenario === 2) value = prng.uniform(r.coverage[0], r.coverage[1]);
      else {
        const band = r.danger[prng.int(r.danger.length)];
        value = prng.uniform(band[0], band[1]);
      }
      values[v.name] = round(clamp(value), r.decimals);
      scenarios.push(['stable', 'shift', 'coverage', 'dangerous'][scenario]);
    }
    out.push({ values, baselines, scenario: panel ? `panel` : scenarios[0] });
  }
  return out;
}

const INPUT_NAMES = [...ANOMALY_VITALS.map((v) => v.name), DEVIATION_INPUT.name];

export function trainAnomaly(producerVersion: string): TaskOutput {
  const data = generateReadings(SAMPLES, DATA_SEED);
  const rows = data.map((d) => anomalyRow(d.values, d.baselines));
  const labels = data.map((d, i) => anomalyLabel(d.values, rows[i].deviation?.value));
  const y = labels.map((l) => (l.anomalous ? 1 : 0));
  const normals = [...ANOMALY_VITALS.map((v) => v.normal), 0];
  const X = rows.map((r) => INPUT_NAMES.map((name, j) => (Number.isNaN(r.row[name]) ? normals[j] : r.row[name])));
  const fitted = fitMlp(X, y, 2, { hidden: HIDDEN, lambda: LAMBDA, maxIterations: MAX_ITERATIONS, initSeed: INIT_SEED, splitSeed: SPLIT_SEED });
  const { train, test, Z, net, testProbs: probs } = fitted;
  const scores = probs.map((p) => p[1]);
  const yt = test.map((i) => y[i]);
  const m = binaryMetrics(yt, scores, 0.5);
  const recallOf = (pick: (k: number) => boolean) => {
    const idx = test.map((_, k) => k).filter(pick);
    return { n: idx.length, recall: idx.filter((k) => scores[k] >= 0.5).length / Math.max(1, idx.length) };
  };
  const dangerRecall = recallOf((k) => labels[test[k]].dangerous);
  const suddenOnlyRecall = recallOf((k) => labels[test[k]].sudden && !labels[test[k]].dangerous);
  const stableIdx = test.map((_, k) => k).filter((k) => data[test[k]].scenario === 'stable' && !yt[k]);
  const falseAlarmsStable = stableIdx.filter((k) => scores[k] >= 0.5).length / Math.max(1, stableIdx.length);
  const trainAcc = predictNet(net, train.map((i) => Z[i])).map(argmax).filter((p, k) => p === y[train[k]]).length / train.length;
  const positives = y.filter((v) => v === 1).length;
  const [[tn, fp], [fn, tp]] = m.confusion;

  const report = [
    `vitals-anomaly: ${SAMPLES} synthetic readings with baselines (seed ${DATA_SEED}): ${positives} anomalous, ${SAMPLES - positives} not; stratified 80/20 split, seed ${SPLIT_SEED}: ${train.length} training, ${test.length} held out`,
    `  network 6 -> ${HIDDEN} tanh -> 2 softmax, L2 ${LAMBDA}, L-BFGS (${MAX_ITERATIONS} iterations at most, initial weights seed ${INIT_SEED}); training accuracy ${fmt(trainAcc)}`,
    `held-out metrics (agreement with the labelling rules, threshold 0.5):`,
    `  accuracy ${fmt(m.accuracy)}   AUC ${fmt(m.auc)}   sensitivity ${fmt(m.sensitivity)}   specificity ${fmt(m.specificity)}   PPV ${fmt(m.ppv)}   NPV ${fmt(m.npv)}   Brier ${fmt(m.brier, 4)}`,
    `  recall of dangerous values ${fmt(dangerRecall.recall)} (${dangerRecall.n})   of sudden changes alone ${fmt(suddenOnlyRecall.recall)} (${suddenOnlyRecall.n})   false alarms on stable readings ${fmt(falseAlarmsStable)} (${stableIdx.length})`,
    `  confusion matrix (rows: label; columns: predicted):`,
    `              pred no  pred yes`,
    `  true no     ${String(tn).padStart(7)}  ${String(fp).padStart(8)}`,
    `  true yes    ${String(fn).padStart(7)}  ${String(tp).padStart(8)}`,
  ].join('\n');

  // Graph: impute, standardise, hidden layer, and P(anomalous) = sigmoid(logit1 - logit0) = softmax column 1.
  const g = new GraphBuilder();
  const logits = mlpLogits(g, INPUT_NAMES.map((name, j) => ({ name, imputation: normals[j] })), 'features', fitted, HIDDEN, 2);
  const margin = g.op('MatMul', [logits, g.constant(floatTensor('logit_difference', [2, 1], [-1, 1]))], 'margin');
  g.op('Sigmoid', [margin], 'score');

  const trainRaw = train.map((i) => X[i]);
  const trainRows = train.map((i) => rows[i].row);
  const inputs: InputSpec[] = INPUT_NAMES.map((name, j) => {
    const col = trainRaw.map((r) => r[j]);
    const missing = trainRows.filter((r) => Number.isNaN(r[name])).length;
    const stats = { mean: sig(mean(col)), sd: sig(sd(col)), median: median(col), min: Math.min(...col), max: Math.max(...col), missing };
    const vital = ANOMALY_VITALS.find((v) => v.name === name);
    if (vital) {
      return {
        name,
        kind: 'continuous',
        description: `${vital.code.display.toLowerCase()} of this reading`,
        source: `the reading's own value or its component with this code (a blood-pressure panel 85354-9, an ICU vital-signs panel 85353-1), valueQuantity; missing when the reading does not carry it`,
        code: vital.code,
        ...(vital.alternativeCodes ? { alternativeCodes: vital.alternativeCodes } : {}),
        unit: vital.unit,
        tensor: { elementType: 'float32', shape: ['N', 1] },
        training: stats,
        imputation: { value: vital.normal, method: 'normal value (NEWS2 parameter score 0): the reading does not carry this vital' },
      } satisfies InputSpec;
    }
    return {
      name,
      kind: 'continuous',
      description: 'how far the reading is from the patient\'s own recent readings of the same vital: |value - median| / max(1.4826 * MAD, floor), the largest among the reading\'s vitals',
      source: `the patient's Observations of the same code taken in the ${BASELINE.windowHours} h before the reading (the latest ${BASELINE.maxReadings}); at least ${BASELINE.minReadings} are needed, else missing`,
      code: DEVIATION_INPUT.code,
      unit: '1',
      derivation: `floors (the smallest spread a baseline is given): ${ANOMALY_VITALS.map((v) => `${v.name} ${v.scaleFloor} ${v.unit}`).join(', ')} (src/ai/features/anomaly.features.ts)`,
      tensor: { elementType: 'float32', shape: ['N', 1] },
      training: stats,
      imputation: { value: 0, method: 'no baseline: no deviation (the reading is judged on its value alone)' },
    } satisfies InputSpec;
  });

  const manifest: Omit<ModelManifest, 'model'> = {
    schema: 'fhir-ai-server/model-manifest/1',
    name: 'vitals-anomaly',
    version: '1.0.0',
    task: 'vital-sign-anomaly',
    title: 'Vital-sign anomaly in wearable and ICU readings',
    description:
      'Whether one vital-sign reading (heart rate, respiratory rate, SpO2, systolic blood pressure, temperature, alone or in a panel) is anomalous: a dangerous value (the most extreme NEWS2 band of its parameter) or a sudden change from the patient\'s own recent readings. Learnt from generated readings labelled by those two rules; not clinically validated.',
    inputs,
    minRealInputs: 1,
    outputs: [{ name: 'score', description: 'probability that the reading is anomalous', elementType: 'float32', shape: ['N', 1], range: [0, 1] }],
    threshold: { output: 'score', value: 0.5, meaning: 'score >= 0.5: the reading is flagged (monitoring_data.anomaly_alert); a flagged ICU reading raises an emergency alert' },
    training: {
      data: [
        {
          name: 'Synthetic vital-sign readings with per-patient baselines generated by scripts/train-models/anomaly.ts (no real patient data), labelled by NEWS2 extreme bands and deviation from the baseline',
          files: [],
          licence: 'Generated by this project (Apache-2.0). NEWS2 chart: © Royal College of Physicians, used with acknowledgement, not modified.',
          citation:
            'Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the assessment of acute-illness severity in the NHS. Updated report of a working party. London: RCP, 2017.',
          source: 'generated deterministically from a fixed seed at training time',
        },
      ],
      rows: SAMPLES,
      split: `stratified 80/20 by label, seed ${SPLIT_SEED}; the shipped model is the one fitted on the ${train.length} training rows`,
      seed: DATA_SEED,
      preprocessing: [
        'readings: a single vital (3 in 4) or a panel of all five; each vital with a baseline of 0-20 earlier readings drawn around the patient\'s usual value (a uniform draw from a usual range) with a spread of 0.3-1.3 times its floor; the current value stable, shifted by 2-9 spreads, anywhere in a wide plausible range, or in a dangerous band; rounded as charted',
        `features: the values of the vitals carried, and the baseline deviation computed by src/ai/features/anomaly.features.ts (the code the server runs); missing values replaced by a normal value in the graph`,
        `label: anomalous if any value lies in its parameter's most extreme NEWS2 band (respiration <= 8 or >= 25 /min; SpO2 <= 91 %; systolic <= 90 or >= 220 mm[Hg]; pulse <= 40 or >= 131 /min; temperature <= 35.0 or >= 39.1 Cel), or the baseline deviation is >= ${DEVIATION_LIMIT}`,
        'inputs standardised with the training mean and sample sd (Sub, Div in the graph)',
      ],
      algorithm: `neural network 6 -> ${HIDDEN} (tanh) -> 2 (softmax), cross-entropy + L2, full-batch L-BFGS from a seeded Glorot-normal start; the graph outputs the anomalous class's probability`,
      hyperparameters: { hidden: HIDDEN, lambda: LAMBDA, maxIterations: MAX_ITERATIONS, initSeed: INIT_SEED, deviationLimit: DEVIATION_LIMIT },
    },
    metrics: {
      evaluation: `held-out 20% of the synthetic set (stratified, seed ${SPLIT_SEED}): agreement with the labelling rules at threshold 0.5, not clinical outcomes`,
      n: test.length,
      accuracy: sig(m.accuracy, 4),
      auc: sig(m.auc, 4),
      sensitivity: sig(m.sensitivity, 4),
      specificity: sig(m.specificity, 4),
      ppv: sig(m.ppv, 4),
      npv: sig(m.npv, 4),
      brier: sig(m.brier, 4),
      dangerousRecall: sig(dangerRecall.recall, 4),
      suddenChangeRecall: sig(suddenOnlyRecall.recall, 4),
      stableFalseAlarmRate: sig(falseAlarmsStable, 4),
      confusion: m.confusion,
    },
    intendedUse:
      'Decision support in continuous monitoring: a reading flagged for a clinician\'s attention, with the value and the baseline behind it. It does not diagnose; NEWS2 and clinical judgement stay the reference, and every flag is a proposal a clinician reviews.',
    limitations: [
      'It imitates two rules on generated data: it is not clinically validated and has never seen a real patient or a real sensor. Its errors are disagreements with the rules, concentrated at band edges and at a deviation near the limit.',
      'No public labelled ICU or wearable data set was available: the readings, the baselines and the labels are all generated (anomaly.ts); real signals have artefacts (motion, probe off) that the model has not seen.',
      'A chronically abnormal patient (e.g. SpO2 88-92 % in COPD) is flagged on every reading in a dangerous band: the baseline does not excuse a dangerous value.',
      'Without at least 3 readings of the same code in the 24 h before, only the value itself is judged.',
      'One reading at a time: trends over hours, combinations of vitals (as NEWS2 aggregates them) and context (exercise, sleep, medication) are not inputs.',
      'Diastolic pressure, consciousness and oxygen therapy are not inputs.',
    ],
  };
  const bytes = encodeModel({
    graphName: 'vitals_anomaly',
    graph: g,
    inputs: INPUT_NAMES.map((name) => valueInfo(name, DataType.FLOAT, ['N', 1])),
    outputs: [valueInfo('score', DataType.FLOAT, ['N', 1], 'probability that the reading is anomalous')],
    docString: manifest.description,
    metadata: [
      ...metadataFor(manifest),
      ['fhir-ai-server:acknowledgement', 'Dangerous bands from the National Early Warning Score (NEWS) 2, Royal College of Physicians, 2017.'],
    ],
    producerVersion,
    modelVersion: 1,
  });
  const feeds: Record<string, Feed> = {};
  INPUT_NAMES.forEach((name) => {
    feeds[name] = floatFeed(test.map((i) => rows[i].row[name]));
  });
  return {
    name: 'vitals-anomaly',
    bytes,
    manifest,
    report,
    cardSections: [
      {
        title: 'Labelling rules',
        body: [
          'No public labelled ICU or wearable data set is available to this project, so the training readings are generated and labelled by two rules; the model learns them:',
          '',
          `1. **Dangerous value**: the reading lies in its parameter's most extreme band of NEWS2 Chart 1 (Royal College of Physicians, 2017; used with acknowledgement, not modified): respiration <= 8 or >= 25 /min, SpO2 (scale 1) <= 91 %, systolic <= 90 or >= 220 mm[Hg], pulse <= 40 or >= 131 /min, temperature <= 35.0 Cel; and temperature >= 39.1 Cel (its top band).`,
          `2. **Sudden change**: |value - median of the baseline| / max(1.4826 x MAD, floor) >= ${DEVIATION_LIMIT}, where the baseline is the patient's readings of the same code in the ${BASELINE.windowHours} h before (the latest ${BASELINE.maxReadings}, at least ${BASELINE.minReadings}), and the floors are ${ANOMALY_VITALS.map((v) => `${v.name} ${v.scaleFloor} ${v.unit}`).join(', ')}.`,
          '',
          'A panel (an ICU vital-signs panel 85353-1 or a blood-pressure panel 85354-9) is one reading: anomalous if any of its vitals is, with the largest deviation among its vitals as the deviation input.',
        ].join('\n'),
      },
    ],
    parity: { feeds, output: 'score', expected: scores, tolerance: 1e-4, what: `${test.length} held-out synthetic readings (missing values fed as NaN)` },
  };
}
