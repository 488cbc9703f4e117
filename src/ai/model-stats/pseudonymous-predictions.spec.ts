import { createDeidentifier } from '../../fhir/bulk/deidentify';
import type { PredictionItem } from './model-stats.service';
import { pseudonymousItem } from './pseudonymous-predictions';

const deid = createDeidentifier(Buffer.alloc(32, 3));

const item = (age: number): PredictionItem => ({
  jobId: 'diagnosis-confidence/Condition/c1/_history/1',
  patient: 'Patient/p1',
  input: 'Condition/c1/_history/1',
  output: 'RiskAssessment/r1',
  shadow: false,
  score: 0.7,
  class: 'positive',
  latencyMs: 2,
  inputs: { age: { value: age, imputed: false }, chol: { value: 240, imputed: false } },
  error: null,
  createdAt: '2026-11-01T10:00:00.000Z',
});

describe('pseudonymousItem', () => {
  it('shows an age input over 89 as the one category 90, and leaves other inputs and younger ages', () => {
    const ages = new Set(['age']);
    expect(pseudonymousItem(deid, item(94), ages).inputs).toEqual({ age: { value: 90, imputed: false, ninetyOrOlder: true }, chol: { value: 240, imputed: false } });
    expect(pseudonymousItem(deid, item(89), ages).inputs).toEqual(item(89).inputs);
    expect(pseudonymousItem(deid, item(94)).inputs).toEqual(item(94).inputs); // no age inputs named
  });

  it('replaces every id with the export pseudonym', () => {
    const out = pseudonymousItem(deid, item(50), new Set(['age']));
    expect(out.patient).toBe(`Patient/${deid.pseudonym('Patient', 'p1')}`);
    expect(out.output).toBe(`RiskAssessment/${deid.pseudonym('RiskAssessment', 'r1')}`);
    expect(JSON.stringify(out)).not.toMatch(/\bp1\b|\bc1\b|\br1\b/);
  });

  it('leaves out createdAt: the real time of a write, shifted or not, would tell the patient\'s date shift', () => {
    const out = pseudonymousItem(deid, item(50));
    expect(out).not.toHaveProperty('createdAt');
    expect(JSON.stringify(out)).not.toContain('2026-');
  });
});
