import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AiJob } from '../ai-plugin';
import type { ModelManifest } from '../model-manifest';
import { modelsDir } from '../model-manifest';
import { failedRecord, labelOf, predictionRecord, recordedInputs, scoreOf } from './prediction-record';

const manifest = (name: string) => JSON.parse(readFileSync(path.join(modelsDir(), name, 'manifest.json'), 'utf8')) as ModelManifest;
const cad = manifest('cad-cleveland');
const triage = manifest('triage-news2');
const sentiment = manifest('sentiment-uci');
const job: AiJob = { task: 'diagnosis-confidence', resourceType: 'Condition', resourceId: 'c1', versionId: 2, patientId: 'p1' };

describe('the score and class of a prediction', () => {
  it('reads the threshold output', () => {
    expect(scoreOf(cad, { probability: [0.73], logit: [1] })).toBe(0.73);
    expect(scoreOf(triage, { priority: [2], probabilities: [0.1, 0.6, 0.2, 0.05, 0.05] })).toBe(2);
    expect(scoreOf(cad, { probability: [Number.NaN] })).toBeNull();
    expect(scoreOf(cad, undefined)).toBeNull();
  });

  it('classes by the threshold, or by the value of a labelled integer output', () => {
    expect(labelOf(cad, 0.5)).toBe('positive');
    expect(labelOf(cad, 0.49)).toBe('negative');
    expect(labelOf(sentiment, -0.2)).toBe('negative');
    expect(labelOf(triage, 3)).toBe('3');
    expect(labelOf(cad, null)).toBeNull();
  });
});

describe('recorded inputs', () => {
  it('marks imputed inputs with the card\'s imputation value and keeps no free text', () => {
    const row: Record<string, number> = Object.fromEntries(cad.inputs.map((i) => [i.name, 1]));
    row.st_depression = Number.NaN;
    const rec = recordedInputs(cad, { kind: 'run', row, basis: [], imputed: ['st_depression'], problems: [] })!;
    expect(rec.age).toEqual({ value: 1, imputed: false });
    expect(rec.st_depression).toEqual({ value: cad.inputs.find((i) => i.name === 'st_depression')!.imputation!.value, imputed: true });
    const text = recordedInputs(sentiment, { kind: 'run', row: { text: 'I feel much better' }, basis: [], imputed: [], problems: [] });
    expect(text).toEqual({ text: { chars: 18 } });
    expect(JSON.stringify(text)).not.toMatch(/better/);
    expect(recordedInputs(cad, { kind: 'insufficient', basis: [], imputed: [], problems: [], reason: 'few' })).toBeNull();
  });
});

describe('prediction records', () => {
  it('records an active run with its output, and a shadow run without one', () => {
    const prepared = { kind: 'run' as const, row: Object.fromEntries(cad.inputs.map((i) => [i.name, 1])), basis: [], imputed: [], problems: [] };
    const active = predictionRecord({ modelId: 'm1', manifest: cad, job, jobId: 'j1', shadow: false, outputRef: 'RiskAssessment/r1' }, prepared, { probability: [0.8] }, 1.23456);
    expect(active).toMatchObject({ modelId: 'm1', jobId: 'j1', patientId: 'p1', inputRef: 'Condition/c1/_history/2', outputRef: 'RiskAssessment/r1', shadow: false, score: 0.8, label: 'positive', latencyMs: 1.235, error: null });
    const shadow = predictionRecord({ modelId: 'm2', manifest: cad, job, jobId: 'j1', shadow: true, outputRef: 'RiskAssessment/r1' }, prepared, { probability: [0.3] }, 2);
    expect(shadow).toMatchObject({ outputRef: null, shadow: true, label: 'negative' });
  });

  it('records too little input as no score, and a model without the score output as an error', () => {
    const insufficient = predictionRecord({ modelId: 'm1', manifest: cad, job, jobId: 'j1', shadow: false }, { kind: 'insufficient', basis: [], imputed: [], problems: [], reason: 'few' }, undefined, null);
    expect(insufficient).toMatchObject({ score: null, label: null, error: null, inputs: null, latencyMs: null });
    const broken = predictionRecord({ modelId: 'm1', manifest: cad, job, jobId: 'j1', shadow: true }, { kind: 'run', row: {}, basis: [], imputed: [], problems: [] }, { other: [1] }, 1);
    expect(broken.error).toMatch(/no finite probability/);
    expect(failedRecord({ modelId: 'm1', manifest: cad, job, jobId: 'j1', shadow: true }, 'x'.repeat(5000), 3)).toMatchObject({ score: null, latencyMs: 3, shadow: true });
  });
});
