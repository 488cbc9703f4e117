import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ModelManifest } from './model-manifest';
import { TASK_CONTRACTS, contractProblems, referenceRows, sameShape, smokeProblems } from './task-contracts';

const ROOT = path.resolve(__dirname, '../..');
const manifestOf = (name: string) => JSON.parse(readFileSync(path.join(ROOT, 'models', name, 'manifest.json'), 'utf8')) as ModelManifest;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('task contracts', () => {
  it.each(['cad-cleveland', 'breast-wdbc', 'triage-news2', 'sentiment-uci', 'vitals-anomaly'])('the built-in %s honours its task contract', (name) => {
    expect(contractProblems(manifestOf(name))).toEqual([]);
  });

  it('compares shapes: same rank, equal sizes, a named batch dimension against a named one', () => {
    expect(sameShape(['N', 1], ['batch', 1])).toBe(true);
    expect(sameShape(['N', 1], ['N', 5])).toBe(false);
    expect(sameShape(['N', 1], [1, 1])).toBe(false);
    expect(sameShape(['N'], ['N', 1])).toBe(false);
  });

  it('names each departure of a diagnosis manifest: input type and shape, missing probability, condition, threshold', () => {
    const m = clone(manifestOf('cad-cleveland'));
    m.inputs[0].tensor = { elementType: 'string', shape: ['N', 2] };
    delete m.inputs[1].imputation;
    m.outputs = m.outputs.filter((o) => o.name !== 'probability');
    delete m.condition;
    m.threshold = { output: 'logit', value: 3 };
    const messages = contractProblems(m).map((p) => `${p.path}: ${p.message}`);
    expect(messages).toEqual([
      'inputs[0].tensor.elementType: input age: a diagnosis-confidence model\'s inputs are float32, not string',
      'inputs[0].tensor.shape: input age: a diagnosis-confidence model\'s inputs have shape [N, 1] (one value per row), not [N, 2]',
      'inputs[1].imputation: input sex: says not how a missing value is imputed (imputation.value and method)',
      'outputs: a diagnosis-confidence model must have the output probability (float32 [N, 1]), which the plugin reads',
      'condition: a diagnosis-confidence model must name the condition it serves (condition.system and condition.code)',
      'threshold.output: a diagnosis-confidence model\'s threshold applies to the output probability, not logit',
      'threshold.value: the threshold 3 is outside [0, 1]',
    ]);
  });

  it('refuses a condition on a triage model, a wrong priority type and a probability range beyond [0, 1]', () => {
    const m = clone(manifestOf('triage-news2'));
    m.condition = { system: 'http://snomed.info/sct', code: '1' };
    m.outputs.find((o) => o.name === 'priority')!.elementType = 'float32';
    m.outputs.find((o) => o.name === 'probabilities')!.range = [0, 2];
    expect(contractProblems(m).map((p) => p.path)).toEqual(['outputs[0].range', 'outputs[1].elementType', 'condition']);
  });

  it('wants exactly one string input of shape [N] for sentiment', () => {
    const m = clone(manifestOf('sentiment-uci'));
    m.inputs.push({ ...m.inputs[0], name: 'other' });
    expect(contractProblems(m)[0].message).toBe('a sentiment model takes exactly 1 input(s), the manifest declares 2');
  });

  it('gives tabular reference rows: training means, all missing, minima and maxima', () => {
    const m = manifestOf('cad-cleveland');
    const rows = referenceRows(m);
    expect(rows.map((r) => r.label)).toEqual(['the training means', 'every input missing (NaN)', 'the training minima', 'the training maxima']);
    expect(rows[0].row.age).toBe(m.inputs[0].training!.mean);
    expect(Number.isNaN(rows[1].row.age)).toBe(true);
    expect(rows[3].row.serum_cholesterol).toBe(564);
    expect(Object.keys(rows[0].row)).toEqual(m.inputs.map((i) => i.name));
  });

  it('falls back to the imputation value when an input has no training statistics', () => {
    const m = clone(manifestOf('cad-cleveland'));
    delete m.inputs[0].training;
    const rows = referenceRows(m);
    expect(rows).toHaveLength(2); // no minima/maxima without statistics for every input
    expect(rows[0].row.age).toBe(56);
  });

  it('gives fixed sentences for sentiment', () => {
    const rows = referenceRows(manifestOf('sentiment-uci'));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.every((r) => typeof r.row.text === 'string')).toBe(true);
  });

  describe('smoke outputs', () => {
    const cad = manifestOf('cad-cleveland');
    const triage = manifestOf('triage-news2');
    const sentiment = manifestOf('sentiment-uci');

    it('accepts outputs in range', () => {
      expect(smokeProblems(cad, 'x', { probability: [0.3], logit: [-0.8] })).toEqual([]);
      expect(smokeProblems(triage, 'x', { probabilities: [0.1, 0.2, 0.3, 0.2, 0.2], priority: [3] })).toEqual([]);
      expect(smokeProblems(sentiment, 'x', { score: [-0.4], probability: [0.3], matched_ngrams: [4] })).toEqual([]);
    });

    it('refuses NaN, out-of-range values, a missing output, probabilities not summing to 1 and a fractional priority', () => {
      expect(smokeProblems(cad, 'the training means', { probability: [Number.NaN], logit: [1] })).toEqual(['on the training means, output probability is not a finite number (NaN)']);
      expect(smokeProblems(cad, 'x', { probability: [1.7], logit: [1] })).toEqual(['on x, output probability = 1.7 is outside [0, 1]']);
      expect(smokeProblems(cad, 'x', { probability: [0.5] })).toEqual(['on x, the model gave no output logit']);
      expect(smokeProblems(triage, 'x', { probabilities: [0.5, 0.5, 0.5, 0, 0], priority: [1] })).toEqual(['on x, the probabilities of probabilities sum to 1.5000, not 1']);
      expect(smokeProblems(triage, 'x', { probabilities: [0.2, 0.2, 0.2, 0.2, 0.2], priority: [2.5] })).toEqual(['on x, output priority = 2.5 is not a whole number']);
      expect(smokeProblems(triage, 'x', { probabilities: [0.2, 0.2, 0.2, 0.2, 0.2], priority: [0] })).toEqual(['on x, output priority = 0 is outside [1, 5]']);
      expect(smokeProblems(sentiment, 'x', { score: [-1.5], probability: [0.3], matched_ngrams: [1] })).toEqual(['on x, output score = -1.5 is outside [-1, 1]']);
    });
  });

  it('has a contract for every task', () => {
    expect(Object.keys(TASK_CONTRACTS).sort()).toEqual(['diagnosis-confidence', 'sentiment', 'triage', 'vital-sign-anomaly']);
  });
});
