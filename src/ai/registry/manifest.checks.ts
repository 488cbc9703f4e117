import type { AiTask, ModelManifest } from '../model-manifest';
import { KNOWN_TASKS } from '../task-contracts';

/** One thing wrong with an upload, and the manifest path (or form field) it concerns. */
export interface Problem {
  path: string;
  message: string;
}

/** Semantic Versioning 2.0.0 (semver.org's own expression). */
export const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
/** A model name: also the first part of its registry id and Device id (`<name>-<version>`, at most 64 characters). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,47}$/;
const INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
const KINDS = ['continuous', 'binary', 'categorical', 'count', 'text'];
const INPUT_TYPES = ['float32', 'string'];
const OUTPUT_TYPES = ['float32', 'float64', 'int32', 'int64'];

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isText = (v: unknown, max = 10_000): v is string => typeof v === 'string' && v.trim().length > 0 && v.length <= max;

/**
 * Checks the shape of an uploaded manifest (models/<name>/manifest.json is the reference): every
 * problem with its path, or the manifest (with `last_trained` read as `lastTrained`). Pure. Whether
 * it fits its task's contract is checked after (task-contracts.ts).
 */
export function checkManifest(raw: unknown): { manifest?: ModelManifest; problems: Problem[] } {
  const problems: Problem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  if (!isObject(raw)) return { problems: [{ path: 'manifest', message: 'the manifest must be a JSON object' }] };

  if (typeof raw.name !== 'string' || !NAME.test(raw.name)) add('name', 'name must be 1-48 letters, digits, "." or "-", starting with a letter or digit');
  if (typeof raw.version !== 'string' || raw.version.length > 50 || !SEMVER.test(raw.version)) add('version', `version must be a semantic version such as 1.2.0 (semver.org), got ${JSON.stringify(raw.version)}`);
  if (typeof raw.task !== 'string' || !KNOWN_TASKS.includes(raw.task as AiTask)) add('task', `task must be one of ${KNOWN_TASKS.join(', ')}, got ${JSON.stringify(raw.task)}`);
  if (!isText(raw.title, 200)) add('title', 'title must be a non-empty string of at most 200 characters');
  if (raw.description !== undefined && typeof raw.description !== 'string') add('description', 'description must be a string');

  if (raw.condition !== undefined) {
    const c = raw.condition;
    if (!isObject(c) || !isText(c.system, 200) || !isText(c.code, 100)) add('condition', 'condition must be a coding with a system and a code');
    else if (`${c.system}|${c.code}`.length > 64) add('condition', 'condition system|code must be at most 64 characters');
  }
  if (raw.model !== undefined) {
    const m = raw.model;
    if (!isObject(m)) add('model', 'model must be an object (file, sha256)');
    else {
      if (m.file !== undefined && !isText(m.file, 255)) add('model.file', 'model.file must be a file name');
      if (m.sha256 !== undefined && (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256))) add('model.sha256', 'model.sha256 must be 64 lower-case hex digits');
    }
  }

  checkInputs(raw.inputs, add);
  const inputCount = Array.isArray(raw.inputs) ? raw.inputs.length : 0;
  if (!Number.isInteger(raw.minRealInputs) || (raw.minRealInputs as number) < 0 || (raw.minRealInputs as number) > inputCount) {
    add('minRealInputs', `minRealInputs must be a whole number from 0 to the number of inputs (${inputCount})`);
  }
  const outputNames = checkOutputs(raw.outputs, add);

  const t = raw.threshold;
  if (!isObject(t) || typeof t.output !== 'string' || !isNumber(t.value)) add('threshold', 'threshold must name an output and a numeric value ({"output": ..., "value": ...})');
  else if (!outputNames.includes(t.output)) add('threshold.output', `threshold.output names ${t.output}, which is not one of the outputs`);

  // A model card without held-out figures or a description of its training data cannot be judged (issue #7's manifest).
  if (raw.metrics === undefined) add('metrics', 'metrics must give the held-out measures of the model (e.g. {"accuracy": 0.83, "auc": 0.9, "n": 91})');
  else {
    if (!isObject(raw.metrics)) add('metrics', 'metrics must be an object of held-out measures');
    else if (!Object.values(raw.metrics).some(isNumber)) add('metrics', 'metrics must give at least one numeric held-out measure (e.g. "accuracy": 0.83)');
    else if (raw.metrics.accuracy !== undefined && (!isNumber(raw.metrics.accuracy) || raw.metrics.accuracy < 0 || raw.metrics.accuracy > 1)) add('metrics.accuracy', 'metrics.accuracy must be a number in [0, 1]');
  }
  if (raw.lastTrained !== undefined && raw.last_trained !== undefined) add('lastTrained', 'give lastTrained or last_trained, not both');
  const lastTrained = raw.lastTrained ?? raw.last_trained;
  if (lastTrained !== undefined && (typeof lastTrained !== 'string' || !/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(lastTrained) || Number.isNaN(Date.parse(lastTrained)))) {
    add('lastTrained', 'lastTrained (or last_trained) must be a date (2026-11-01) or a date-time with its zone');
  }
  if (raw.federated !== undefined && typeof raw.federated !== 'boolean') add('federated', 'federated must be true or false');
  if (!isObject(raw.training)) add('training', 'training must be an object describing the training data (its source and licence, how it was split)');

  if (typeof raw.name === 'string' && typeof raw.version === 'string' && `${raw.name}-${raw.version}`.length > 64) {
    add('version', 'name and version together must be at most 63 characters (the Device id is <name>-<version>)');
  }
  if (problems.length) return { problems };
  const { last_trained: _alias, ...rest } = raw;
  return { manifest: { ...rest, ...(lastTrained !== undefined ? { lastTrained } : {}) } as unknown as ModelManifest, problems };
}

function checkTensor(t: unknown, at: string, types: string[], add: (p: string, m: string) => void): void {
  if (!isObject(t)) return add(at, `${at} must be an object with elementType and shape`);
  if (typeof t.elementType !== 'string' || !types.includes(t.elementType)) add(`${at}.elementType`, `${at}.elementType must be one of ${types.join(', ')}`);
  const shape = t.shape;
  if (!Array.isArray(shape) || shape.length === 0 || shape.length > 8 || !shape.every((d) => (Number.isInteger(d) && d > 0) || isText(d, 64))) {
    add(`${at}.shape`, `${at}.shape must list 1 to 8 dimensions, each a positive whole number or a name (the batch dimension, e.g. "N")`);
  }
}

function checkInputs(inputs: unknown, add: (p: string, m: string) => void): void {
  if (!Array.isArray(inputs) || inputs.length === 0) return add('inputs', 'inputs must be a non-empty array');
  const seen = new Set<string>();
  inputs.forEach((input, i) => {
    const at = `inputs[${i}]`;
    if (!isObject(input)) return add(at, `${at} must be an object`);
    if (typeof input.name !== 'string' || !INPUT_NAME.test(input.name)) add(`${at}.name`, `${at}.name must be an identifier (letters, digits, _ . : -)`);
    else if (seen.has(input.name)) add(`${at}.name`, `input ${input.name} is declared twice`);
    else seen.add(input.name);
    if (typeof input.kind !== 'string' || !KINDS.includes(input.kind)) add(`${at}.kind`, `${at}.kind must be one of ${KINDS.join(', ')}`);
    if (input.code !== undefined && (!isObject(input.code) || !isText(input.code.system, 500) || !isText(input.code.code, 200))) add(`${at}.code`, `${at}.code must be a coding with a system and a code (the FHIR binding)`);
    if (input.alternativeCodes !== undefined && (!Array.isArray(input.alternativeCodes) || !input.alternativeCodes.every((c) => isObject(c) && isText(c.system, 500) && isText(c.code, 200)))) {
      add(`${at}.alternativeCodes`, `${at}.alternativeCodes must be codings with a system and a code`);
    }
    if (input.unit !== undefined && typeof input.unit !== 'string') add(`${at}.unit`, `${at}.unit must be a UCUM unit`);
    checkTensor(input.tensor, `${at}.tensor`, INPUT_TYPES, add);
    const imp = input.imputation;
    if (imp !== undefined && (!isObject(imp) || !isNumber(imp.value) || typeof imp.method !== 'string')) add(`${at}.imputation`, `${at}.imputation must have a numeric value and a method`);
    // The runtime refuses values outside these (treated as missing), so they must be usable as given.
    const allowed = input.allowedValues;
    if (allowed !== undefined && (!Array.isArray(allowed) || allowed.length === 0 || !allowed.every((v) => isObject(v) && isNumber(v.value)))) {
      add(`${at}.allowedValues`, `${at}.allowedValues must be a non-empty array of {"value": <number>, "meaning": ...}`);
    }
    const range = input.plausibleRange;
    if (range !== undefined && (!isObject(range) || !isNumber(range.min) || !isNumber(range.max) || range.min > range.max)) {
      add(`${at}.plausibleRange`, `${at}.plausibleRange must give numeric min <= max`);
    }
    const tr = input.training;
    if (tr !== undefined) {
      const keys = ['mean', 'sd', 'median', 'min', 'max'];
      if (!isObject(tr) || !keys.every((k) => isNumber(tr[k]))) add(`${at}.training`, `${at}.training must give numeric ${keys.join(', ')}`);
      else if ((tr.sd as number) < 0 || (tr.min as number) > (tr.max as number)) add(`${at}.training`, `${at}.training: sd must be >= 0 and min <= max`);
    }
  });
}

function checkOutputs(outputs: unknown, add: (p: string, m: string) => void): string[] {
  if (!Array.isArray(outputs) || outputs.length === 0) {
    add('outputs', 'outputs must be a non-empty array');
    return [];
  }
  const names: string[] = [];
  outputs.forEach((output, i) => {
    const at = `outputs[${i}]`;
    if (!isObject(output)) return add(at, `${at} must be an object`);
    if (typeof output.name !== 'string' || !INPUT_NAME.test(output.name)) add(`${at}.name`, `${at}.name must be an identifier (letters, digits, _ . : -)`);
    else if (names.includes(output.name)) add(`${at}.name`, `output ${output.name} is declared twice`);
    else names.push(output.name);
    if (typeof output.elementType !== 'string' || !OUTPUT_TYPES.includes(output.elementType)) add(`${at}.elementType`, `${at}.elementType must be one of ${OUTPUT_TYPES.join(', ')}`);
    checkTensor({ elementType: OUTPUT_TYPES[0], shape: output.shape }, at, OUTPUT_TYPES, add);
    const r = output.range;
    if (r !== undefined && (!Array.isArray(r) || r.length !== 2 || !isNumber(r[0]) || !isNumber(r[1]) || r[0] >= r[1])) add(`${at}.range`, `${at}.range must be [low, high] with low < high`);
    if (output.labels !== undefined && (!Array.isArray(output.labels) || !output.labels.every((l) => typeof l === 'string'))) add(`${at}.labels`, `${at}.labels must be strings`);
  });
  return names;
}
