import { DATASETS, LOINC, type InputSpec, type ModelManifest } from './manifest';
import { metadataFor } from './diagnosis';
import { argmax, predictNet } from './models';
import { fitMlp, mlpLogits } from './mlp';
import { generateVitals, VITAL_KEYS, vitalsVector } from './news2';
import { DataType, GraphBuilder, attr, encodeModel, int64Tensor, valueInfo } from './onnx';
import { auc, confusionMatrix, mean, median, sd } from './stats';
import { fmt, floatFeed, sig, type Feed, type TaskOutput } from './task';

/**
 * triage-news2: a priority 1 (most urgent) to 5 from seven vital signs, learnt from synthetic
 * vitals labelled by NEWS2 (see news2.ts). A small neural network (7 -> 32 tanh -> 5 softmax).
 */

export const TRIAGE_SYSTEM = 'urn:fhir-ai-server:vitals';

export const SAMPLES = 20000;
export const DATA_SEED = 1;
export const SPLIT_SEED = 1;
export const INIT_SEED = 1;
export const HIDDEN = 32;
export const LAMBDA = 1e-5;
export const MAX_ITERATIONS = 3000;

type TriageInput = Omit<InputSpec, 'tensor' | 'training' | 'imputation'> & { key: (typeof VITAL_KEYS)[number]; normal: number };

/** Bounds no patient reaches: a value outside them is a unit or typing error (the runtime treats it as missing). */
const limits = (min: number, max: number, unit: string) => ({ min, max, basis: `physiological limits; outside ${min}-${max} ${unit} a unit or typing error` });

/** In VITAL_KEYS order. `normal` is the imputation value: a value NEWS2 scores 0. */
export const TRIAGE_INPUTS: TriageInput[] = [
  {
    key: 'respiratoryRate',
    name: 'respiratory_rate',
    kind: 'continuous',
    description: 'respiration rate',
    source: 'Observation 9279-1, valueQuantity (most recent)',
    code: { system: LOINC, code: '9279-1', display: 'Respiratory rate' },
    unit: '/min',
    plausibleRange: limits(0, 400, '/min'),
    normal: 16,
  },
  {
    key: 'spo2',
    name: 'spo2',
    kind: 'continuous',
    description: 'oxygen saturation by pulse oximetry (NEWS2 SpO2 scale 1)',
    source: 'Observation 59408-5 or 2708-6, valueQuantity (most recent)',
    code: { system: LOINC, code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' },
    alternativeCodes: [{ system: LOINC, code: '2708-6', display: 'Oxygen saturation in Arterial blood' }],
    unit: '%',
    plausibleRange: limits(0, 100, '%'),
    normal: 97,
  },
  {
    key: 'onOxygen',
    name: 'supplemental_oxygen',
    kind: 'binary',
    description: 'on supplemental oxygen: 1 yes, 0 breathing air',
    source: 'derived from Observations 3151-8 / 3150-0 (or a component of the SpO2 Observation) at the time of the SpO2 reading',
    code: { system: TRIAGE_SYSTEM, code: 'supplemental-oxygen', display: 'On supplemental oxygen' },
    alternativeCodes: [
      { system: LOINC, code: '3151-8', display: 'Inhaled oxygen flow rate' },
      { system: LOINC, code: '3150-0', display: 'Inhaled oxygen concentration' },
    ],
    unit: '1',
    derivation: '1 if inhaled oxygen flow rate (3151-8) > 0 L/min or inhaled oxygen concentration (3150-0) > 21 %; 0 if recorded as room air; missing otherwise',
    allowedValues: [
      { value: 0, meaning: 'air' },
      { value: 1, meaning: 'oxygen' },
    ],
    normal: 0,
  },
  {
    key: 'systolicBp',
    name: 'systolic_bp',
    kind: 'continuous',
    description: 'systolic blood pressure',
    source: 'Observation 8480-6 (or the 8480-6 component of a blood-pressure panel 85354-9), valueQuantity (most recent)',
    code: { system: LOINC, code: '8480-6', display: 'Systolic blood pressure' },
    unit: 'mm[Hg]',
    plausibleRange: limits(0, 400, 'mm[Hg]'),
    normal: 120,
  },
  {
    key: 'pulse',
    name: 'pulse_rate',
    kind: 'continuous',
    description: 'pulse / heart rate',
    source: 'Observation 8867-4, valueQuantity (most recent)',
    code: { system: LOINC, code: '8867-4', display: 'Heart rate' },
    unit: '/min',
    plausibleRange: limits(0, 400, '/min'),
    normal: 75,
  },
  {
    key: 'consciousness',
    name: 'consciousness',
    kind: 'binary',
    description: 'level of consciousness on the ACVPU scale: 0 Alert, 1 new Confusion, Voice, Pain or Unresponsive',
    source: 'Observation 80288-4 (or 67775-7), valueCodeableConcept',
    code: { system: LOINC, code: '80288-4', display: 'Level of consciousness' },
    alternativeCodes: [{ system: LOINC, code: '67775-7', display: 'Level of responsiveness' }],
    unit: '1',
    derivation: 'Alert -> 0; new confusion, responds to voice, responds to pain, unresponsive -> 1',
    allowedValues: [
      { value: 0, meaning: 'alert' },
      { value: 1, meaning: 'new confusion, voice, pain or unresponsive' },
    ],
    normal: 0,
  },
  {
    key: 'temperature',
    name: 'temperature',
    kind: 'continuous',
    description: 'body temperature',
    source: 'Observation 8310-5, valueQuantity (most recent; convert [degF] to Cel)',
    code: { system: LOINC, code: '8310-5', display: 'Body temperature' },
    unit: 'Cel',
    plausibleRange: limits(20, 46, 'Cel'),
    normal: 37,
  },
];

export const PRIORITY_LABELS = [
  'priority 1: immediate (NEWS2 >= 7)',
  'priority 2: very urgent (NEWS2 5-6, or a single parameter scoring 3)',
  'priority 3: urgent (NEWS2 3-4)',
  'priority 4: standard (NEWS2 1-2)',
  'priority 5: non-urgent (NEWS2 0)',
];

export function trainTriage(producerVersion: string): TaskOutput {
  const data = generateVitals(SAMPLES, DATA_SEED);
  const y = data.map((d) => d.priority - 1);
  const X = data.map(vitalsVector);
  const fitted = fitMlp(X, y, 5, { hidden: HIDDEN, lambda: LAMBDA, maxIterations: MAX_ITERATIONS, initSeed: INIT_SEED, splitSeed: SPLIT_SEED });
  const { train, test, Z, net, testProbs: probs } = fitted;
  const pred = probs.map(argmax);
  const yt = test.map((i) => y[i]);
  const cm = confusionMatrix(yt, pred, 5);
  const n = yt.length;
  const acc = yt.filter((c, k) => pred[k] === c).length / n;
  const under = yt.filter((c, k) => pred[k] > c).length / n;
  const over = yt.filter((c, k) => pred[k] < c).length / n;
  const withinOne = yt.filter((c, k) => Math.abs(pred[k] - c) <= 1).length / n;
  const underTwo = yt.filter((c, k) => pred[k] - c >= 2).length;
  const perClass = cm.map((row, c) => row[c] / row.reduce((a, b) => a + b, 0));
  const aucs = [0, 1, 2, 3, 4].map((c) => auc(yt.map((t) => (t === c ? 1 : 0)), probs.map((p) => p[c])));
  const macroAuc = mean(aucs);
  const p1Recall = (cm[0][0] + cm[0][1]) / cm[0].reduce((a, b) => a + b, 0);
  const trainPred = predictNet(net, train.map((i) => Z[i])).map(argmax);
  const trainAcc = train.filter((i, k) => trainPred[k] === y[i]).length / train.length;
  const classCounts = [0, 1, 2, 3, 4].map((c) => y.filter((v) => v === c).length);

  const header = '            ' + [1, 2, 3, 4, 5].map((p) => `pred ${p}`.padStart(8)).join('') + '   accuracy';
  const report = [
    `triage-news2: ${SAMPLES} synthetic vital-sign sets (seed ${DATA_SEED}), priorities 1-5: ${classCounts.join(' / ')}; stratified 80/20 split, seed ${SPLIT_SEED}: ${train.length} training, ${test.length} held out`,
    `  network 7 -> ${HIDDEN} tanh -> 5 softmax, L2 ${LAMBDA}, L-BFGS (${MAX_ITERATIONS} iterations at most, initial weights seed ${INIT_SEED}); training accuracy ${fmt(trainAcc)}`,
    `held-out metrics (agreement with the NEWS2-derived priority):`,
    `  accuracy ${fmt(acc)}   macro one-vs-rest AUC ${fmt(macroAuc)}   within one level ${fmt(withinOne)}`,
    `  under-triage (predicted less urgent than NEWS2) ${fmt(under)} (by two or more levels: ${underTwo} of ${n})   over-triage ${fmt(over)}   true priority 1 predicted 1 or 2: ${fmt(p1Recall)}`,
    `  per-class AUC: ${aucs.map((a, c) => `${c + 1}: ${fmt(a)}`).join('  ')}`,
    `  confusion matrix (rows: NEWS2 priority; columns: predicted):`,
    header,
    ...cm.map((row, c) => `  true ${c + 1}   ` + row.map((v) => String(v).padStart(8)).join('') + `   ${fmt(perClass[c])}`),
  ].join('\n');

  // Graph.
  const g = new GraphBuilder();
  const logits = mlpLogits(g, TRIAGE_INPUTS.map((inp) => ({ name: inp.name, imputation: inp.normal })), 'vitals', fitted, HIDDEN, 5);
  g.op('Softmax', [logits], 'probabilities', [attr.int('axis', 1)]);
  const idx = g.op('ArgMax', ['probabilities'], 'class_index', [attr.int('axis', 1), attr.int('keepdims', 1)]);
  g.op('Add', [idx, g.constant(int64Tensor('one', [1], [1]))], 'priority');

  const trainRaw = train.map((i) => X[i]);
  const inputs: InputSpec[] = TRIAGE_INPUTS.map((inp, j) => {
    const { key: _key, normal, ...rest } = inp;
    const col = trainRaw.map((r) => r[j]);
    return {
      ...rest,
      tensor: { elementType: 'float32', shape: ['N', 1] },
      training: { mean: sig(mean(col)), sd: sig(sd(col)), median: median(col), min: Math.min(...col), max: Math.max(...col), missing: 0 },
      imputation: { value: normal, method: 'normal value (NEWS2 parameter score 0)' },
    };
  });
  const manifest: Omit<ModelManifest, 'model'> = {
    schema: 'fhir-ai-server/model-manifest/1',
    name: 'triage-news2',
    version: '1.0.0',
    task: 'triage',
    title: 'Triage priority from vital signs (imitates NEWS2)',
    description:
      'A priority 1 (most urgent) to 5 from seven vital signs, learnt from synthetic vital signs labelled with the Royal College of Physicians NEWS2 score and its red-score rule. It imitates NEWS2 on generated data and is not clinically validated.',
    inputs,
    minRealInputs: 5,
    outputs: [
      { name: 'probabilities', description: 'probability of each priority, columns priority 1 to 5', elementType: 'float32', shape: ['N', 5], range: [0, 1], labels: PRIORITY_LABELS },
      { name: 'priority', description: 'the most probable priority (1 most urgent ... 5 least)', elementType: 'int64', shape: ['N', 1], range: [1, 5], labels: PRIORITY_LABELS },
    ],
    threshold: { output: 'priority', value: 2, meaning: 'priority <= 2: raise an urgent recommendation (emergency / urgent response in NEWS2 terms) for a clinician to review' },
    training: {
      data: [DATASETS.news2],
      rows: SAMPLES,
      split: `stratified 80/20 by priority, seed ${SPLIT_SEED}; the shipped model is the one fitted on the ${train.length} training rows`,
      seed: DATA_SEED,
      preprocessing: [
        'synthetic vitals drawn from a mixture of well, mildly and moderately unwell, sepsis-like, respiratory, circulatory, neurological, isolated single-parameter abnormality and uniform "coverage" profiles (news2.ts), rounded as charted (whole numbers; temperature to 0.1 Cel)',
        'label: NEWS2 (Chart 1, SpO2 scale 1) aggregate and red score -> priority: >= 7 -> 1; 5-6 or any single parameter 3 -> 2; 3-4 -> 3; 1-2 -> 4; 0 -> 5',
        'inputs standardised with the training mean and sample sd (Sub, Div in the graph); NaN inputs replaced by the normal value in the graph',
      ],
      algorithm: `neural network 7 -> ${HIDDEN} (tanh) -> 5 (softmax), cross-entropy + L2, full-batch L-BFGS from a seeded Glorot-normal start`,
      hyperparameters: { hidden: HIDDEN, lambda: LAMBDA, maxIterations: MAX_ITERATIONS, initSeed: INIT_SEED },
    },
    metrics: {
      evaluation: `held-out 20% of the synthetic set (stratified, seed ${SPLIT_SEED}): agreement with the NEWS2-derived priority, not clinical outcomes`,
      n: test.length,
      accuracy: sig(acc, 4),
      macroAuc: sig(macroAuc, 4),
      perClassAuc: aucs.map((a) => sig(a, 4)),
      perClassAccuracy: perClass.map((a) => sig(a, 4)),
      underTriage: sig(under, 4),
      underTriageByTwoOrMore: underTwo,
      overTriage: sig(over, 4),
      withinOneLevel: sig(withinOne, 4),
      priority1PredictedUrgent: sig(p1Recall, 4),
      confusion: cm,
    },
    intendedUse:
      'Decision support in triage: a suggested priority with the vital signs behind it, for a clinician to accept or change. NEWS2 itself, computed exactly, is the reference; this model shows the plugin pipeline with a learnt model and must not replace NEWS2 or clinical judgement.',
    limitations: [
      'It imitates NEWS2 on generated data: it is not clinically validated and has never seen a real patient. Its errors are disagreements with NEWS2, concentrated at band boundaries; the hardest case is the single-parameter red score (one vital in an extreme band, the others normal), which it can under-triage.',
      'The priority mapping from NEWS2 is this project\'s (in the direction of ESI / Manchester: 1 most urgent); it is not an RCP, ESI or Manchester Triage System rule.',
      'SpO2 scale 2 (target 88-92% in hypercapnic respiratory failure) is not modelled: such patients are scored on scale 1 and will look more urgent.',
      'The synthetic population is plausible, not epidemiological: class proportions were chosen for balance, not to match an emergency department.',
      'Missing vitals are imputed with normal values, which can only under-estimate urgency; the runtime must say which were imputed and should not score fewer than minRealInputs.',
      'Age, pregnancy, chronic conditions, chief complaint and pain are not inputs: real triage systems use them.',
      'The training mean, sd and median in the manifest describe the synthetic population: drift checks against them measure distance from that mix, not from a real emergency department.',
    ],
  };
  const bytes = encodeModel({
    graphName: 'triage_news2',
    graph: g,
    inputs: TRIAGE_INPUTS.map((inp) => valueInfo(inp.name, DataType.FLOAT, ['N', 1])),
    outputs: [
      valueInfo('probabilities', DataType.FLOAT, ['N', 5], 'probability of priorities 1..5'),
      valueInfo('priority', DataType.INT64, ['N', 1], 'most probable priority, 1 (most urgent) to 5'),
    ],
    docString: manifest.description,
    metadata: [
      ...metadataFor(manifest),
      ['fhir-ai-server:acknowledgement', 'Labels derived from the National Early Warning Score (NEWS) 2, Royal College of Physicians, 2017.'],
    ],
    producerVersion,
    modelVersion: 1,
  });
  const feeds: Record<string, Feed> = {};
  TRIAGE_INPUTS.forEach((inp, j) => {
    feeds[inp.name] = floatFeed(test.map((i) => X[i][j]));
  });
  return {
    name: 'triage-news2',
    bytes,
    manifest,
    report,
    cardSections: [
      {
        title: 'NEWS2 and the priority mapping',
        body: [
          'Labels come from the National Early Warning Score 2 (Royal College of Physicians, 2017), Chart 1, used with acknowledgement and without modification:',
          '',
          '| parameter | 3 | 2 | 1 | 0 | 1 | 2 | 3 |',
          '|---|---|---|---|---|---|---|---|',
          '| respiration rate (/min) | <= 8 | | 9-11 | 12-20 | | 21-24 | >= 25 |',
          '| SpO2 scale 1 (%) | <= 91 | 92-93 | 94-95 | >= 96 | | | |',
          '| air or oxygen | | oxygen | | air | | | |',
          '| systolic BP (mm[Hg]) | <= 90 | 91-100 | 101-110 | 111-219 | | | >= 220 |',
          '| pulse (/min) | <= 40 | | 41-50 | 51-90 | 91-110 | 111-130 | >= 131 |',
          '| consciousness | | | | alert | | | CVPU |',
          '| temperature (Cel) | <= 35.0 | | 35.1-36.0 | 36.1-38.0 | 38.1-39.0 | >= 39.1 | |',
          '',
          'Priority (1 most urgent, in the direction of ESI and the Manchester Triage System; this mapping is the project\'s own):',
          '',
          '| NEWS2 | priority | NEWS2 clinical risk |',
          '|---|---|---|',
          '| aggregate >= 7 | 1 | high |',
          '| aggregate 5-6, or any single parameter scoring 3 | 2 | medium, or low-medium (red score) |',
          '| aggregate 3-4 | 3 | low |',
          '| aggregate 1-2 | 4 | low |',
          '| aggregate 0 | 5 | low |',
          '',
          'The exact scorer is `scripts/train-models/news2.ts` (unit-tested); values between two whole-number bands count in the higher band (e.g. respiration 20.5 scores as 21-24).',
        ].join('\n'),
      },
    ],
    parity: { feeds, output: 'probabilities', expected: probs.flat(), tolerance: 1e-4, what: `${test.length} held-out synthetic vital-sign sets (5 probabilities each)` },
  };
}

