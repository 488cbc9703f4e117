import type { AiTask, ModelManifest } from './model-manifest';
import type { ModelOutputs } from './inference.service';

/**
 * What each task's plugin feeds a model and reads from it (src/ai/plugins/*.ts): a new model
 * version for a task must honour this to be registered. Pure data and pure functions.
 *
 * Shapes: a string dimension is the batch dimension (any name), a number a fixed size.
 */
export type Dim = string | number;

export interface ContractOutput {
  name: string;
  elementType: 'float32' | 'int64';
  shape: Dim[];
  /** The plugin reads it: the model must have it. */
  required: boolean;
  /** Values the plugin can use; a smoke run outside it fails the upload. */
  range: [number, number];
  /** The values of one row are class probabilities: each in [0, 1], summing to 1. */
  distribution?: boolean;
  integer?: boolean;
}

export interface TaskContract {
  task: AiTask;
  input: {
    elementType: 'float32' | 'string';
    shape: Dim[];
    kinds: string[];
    count: [number, number];
    /** Each input names the FHIR code it is read from. */
    needsCode: boolean;
    /** Each input says how a missing value is imputed (the graph imputes NaN). */
    needsImputation: boolean;
  };
  outputs: ContractOutput[];
  /** Diagnosis models serve one condition (a coding); the others none. */
  condition: 'required' | 'forbidden';
  threshold: { output: string; range: [number, number] };
}

const TABULAR_INPUT: TaskContract['input'] = {
  elementType: 'float32',
  shape: ['N', 1],
  kinds: ['continuous', 'binary', 'categorical', 'count'],
  count: [1, 500],
  needsCode: true,
  needsImputation: true,
};

export const TASK_CONTRACTS: Record<AiTask, TaskContract> = {
  'diagnosis-confidence': {
    task: 'diagnosis-confidence',
    input: TABULAR_INPUT,
    outputs: [{ name: 'probability', elementType: 'float32', shape: ['N', 1], required: true, range: [0, 1] }],
    condition: 'required',
    threshold: { output: 'probability', range: [0, 1] },
  },
  triage: {
    task: 'triage',
    input: TABULAR_INPUT,
    outputs: [
      { name: 'probabilities', elementType: 'float32', shape: ['N', 5], required: true, range: [0, 1], distribution: true },
      { name: 'priority', elementType: 'int64', shape: ['N', 1], required: true, range: [1, 5], integer: true },
    ],
    condition: 'forbidden',
    threshold: { output: 'priority', range: [1, 5] },
  },
  sentiment: {
    task: 'sentiment',
    input: { elementType: 'string', shape: ['N'], kinds: ['text'], count: [1, 1], needsCode: false, needsImputation: false },
    outputs: [
      { name: 'score', elementType: 'float32', shape: ['N', 1], required: true, range: [-1, 1] },
      { name: 'matched_ngrams', elementType: 'float32', shape: ['N', 1], required: false, range: [0, Number.POSITIVE_INFINITY], integer: true },
    ],
    condition: 'forbidden',
    threshold: { output: 'score', range: [-1, 1] },
  },
  // One reading's vitals and its deviation from the patient's baseline -> P(anomalous) (plugins/anomaly.plugin.ts).
  'vital-sign-anomaly': {
    task: 'vital-sign-anomaly',
    input: TABULAR_INPUT,
    outputs: [{ name: 'score', elementType: 'float32', shape: ['N', 1], required: true, range: [0, 1] }],
    condition: 'forbidden',
    threshold: { output: 'score', range: [0, 1] },
  },
};

export const KNOWN_TASKS = Object.keys(TASK_CONTRACTS) as AiTask[];

/** A shape's text, e.g. [N, 1]. */
export function shapeText(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}

/** Whether two shapes agree: same rank, equal fixed sizes, a batch (named) dimension where the other has one. */
export function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => (typeof d === 'string' ? typeof b[i] === 'string' : d === b[i]));
}

/**
 * How a (well-formed) manifest departs from its task's contract: one message per problem, with
 * the manifest path it concerns. Empty when it honours it.
 */
export function contractProblems(manifest: ModelManifest): Array<{ path: string; message: string }> {
  const c = TASK_CONTRACTS[manifest.task];
  const problems: Array<{ path: string; message: string }> = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  const [min, max] = c.input.count;
  if (manifest.inputs.length < min || manifest.inputs.length > max) {
    add('inputs', min === max ? `a ${c.task} model takes exactly ${min} input(s), the manifest declares ${manifest.inputs.length}` : `a ${c.task} model takes ${min} to ${max} inputs, the manifest declares ${manifest.inputs.length}`);
  }
  manifest.inputs.forEach((input, i) => {
    const at = `inputs[${i}]`;
    if (input.tensor.elementType !== c.input.elementType) add(`${at}.tensor.elementType`, `input ${input.name}: a ${c.task} model's inputs are ${c.input.elementType}, not ${input.tensor.elementType}`);
    if (!sameShape(input.tensor.shape, c.input.shape)) add(`${at}.tensor.shape`, `input ${input.name}: a ${c.task} model's inputs have shape ${shapeText(c.input.shape)} (one value per row), not ${shapeText(input.tensor.shape)}`);
    if (!c.input.kinds.includes(input.kind)) add(`${at}.kind`, `input ${input.name}: kind must be one of ${c.input.kinds.join(', ')} for a ${c.task} model, not ${input.kind}`);
    if (c.input.needsCode && !(input.code?.system && input.code?.code)) add(`${at}.code`, `input ${input.name}: names no FHIR code (system and code) to read it from`);
    if (c.input.needsImputation && !input.imputation) add(`${at}.imputation`, `input ${input.name}: says not how a missing value is imputed (imputation.value and method)`);
  });
  for (const o of c.outputs) {
    const declared = manifest.outputs.find((x) => x.name === o.name);
    const at = `outputs[${manifest.outputs.indexOf(declared as never)}]`;
    if (!declared) {
      if (o.required) add('outputs', `a ${c.task} model must have the output ${o.name} (${o.elementType} ${shapeText(o.shape)}), which the plugin reads`);
      continue;
    }
    if (declared.elementType !== o.elementType) add(`${at}.elementType`, `output ${o.name}: must be ${o.elementType}, not ${declared.elementType}`);
    if (!sameShape(declared.shape, o.shape)) add(`${at}.shape`, `output ${o.name}: must have shape ${shapeText(o.shape)}, not ${shapeText(declared.shape)}`);
    if (declared.range && (declared.range[0] < o.range[0] || declared.range[1] > o.range[1])) {
      add(`${at}.range`, `output ${o.name}: the range [${declared.range.join(', ')}] goes beyond what the plugin can use [${o.range.join(', ')}]`);
    }
  }
  if (c.condition === 'required' && !manifest.condition) add('condition', `a ${c.task} model must name the condition it serves (condition.system and condition.code)`);
  if (c.condition === 'forbidden' && manifest.condition) add('condition', `only diagnosis-confidence models name a condition; a ${c.task} model serves every patient`);
  if (manifest.threshold.output !== c.threshold.output) add('threshold.output', `a ${c.task} model's threshold applies to the output ${c.threshold.output}, not ${manifest.threshold.output}`);
  const [lo, hi] = c.threshold.range;
  if (manifest.threshold.value < lo || manifest.threshold.value > hi) add('threshold.value', `the threshold ${manifest.threshold.value} is outside [${lo}, ${hi}]`);
  return problems;
}

/** Fixed sentences for a sentiment smoke run: clear positives and negatives, a neutral one, and text of no known word. */
export const SMOKE_SENTENCES = [
  'The staff were wonderful, kind and very helpful.',
  'Terrible experience, rude staff and awful waiting times.',
  'I had an appointment on Tuesday.',
  'zzqx vvbn',
];

/**
 * The task's reference inputs for a smoke run, one row each with a label. Tabular tasks: the
 * training means (else the imputation values), every input missing (NaN, which the graph must
 * impute, as the plugins send it), and the training minima and maxima. Sentiment: fixed sentences.
 */
export function referenceRows(manifest: ModelManifest): Array<{ label: string; row: Record<string, number | string> }> {
  if (TASK_CONTRACTS[manifest.task].input.elementType === 'string') {
    const name = manifest.inputs[0].name;
    return SMOKE_SENTENCES.map((s) => ({ label: `the sentence "${s}"`, row: { [name]: s } }));
  }
  const rowOf = (pick: (i: ModelManifest['inputs'][number]) => number | undefined) =>
    Object.fromEntries(manifest.inputs.map((i) => [i.name, pick(i) ?? i.imputation?.value ?? Number.NaN]));
  const rows = [
    { label: 'the training means', row: rowOf((i) => i.training?.mean) },
    { label: 'every input missing (NaN)', row: rowOf(() => Number.NaN) },
  ];
  if (manifest.inputs.every((i) => i.training)) {
    rows.push({ label: 'the training minima', row: rowOf((i) => i.training?.min) }, { label: 'the training maxima', row: rowOf((i) => i.training?.max) });
  }
  return rows;
}

/** What is wrong with one smoke run's outputs (given the row's label): NaN, out of range, probabilities not summing to 1. */
export function smokeProblems(manifest: ModelManifest, label: string, outputs: ModelOutputs): string[] {
  const c = TASK_CONTRACTS[manifest.task];
  const problems: string[] = [];
  for (const declared of manifest.outputs) {
    const values = outputs[declared.name];
    if (!values) {
      problems.push(`on ${label}, the model gave no output ${declared.name}`);
      continue;
    }
    if (values.some((v) => !Number.isFinite(v))) {
      problems.push(`on ${label}, output ${declared.name} is not a finite number (${values.join(', ')})`);
      continue;
    }
    const contract = c.outputs.find((o) => o.name === declared.name);
    // The narrower of what the plugin can use and what the manifest promises.
    const bounds = [contract?.range, declared.range].filter((b): b is [number, number] => !!b);
    if (bounds.length) {
      const lo = Math.max(...bounds.map((b) => b[0]));
      const hi = Math.min(...bounds.map((b) => b[1]));
      if (values.some((v) => v < lo - 1e-6 || v > hi + 1e-6)) {
        problems.push(`on ${label}, output ${declared.name} = ${values.join(', ')} is outside [${lo}, ${hi}]`);
        continue;
      }
    }
    if (contract?.integer && values.some((v) => !Number.isInteger(v))) problems.push(`on ${label}, output ${declared.name} = ${values.join(', ')} is not a whole number`);
    if (contract?.distribution) {
      const sum = values.reduce((a, b) => a + b, 0);
      if (Math.abs(sum - 1) > 1e-3) problems.push(`on ${label}, the probabilities of ${declared.name} sum to ${sum.toFixed(4)}, not 1`);
    }
  }
  return problems;
}
