import { HIGH_STRESS, interventionDecision, stressScore } from './stress-intervention';

const pss = (value: number) => ({ system: 'http://loinc.org', code: '106860-0', type: 'integer', value });
const device = (value: number, unit?: string) => ({ system: 'http://snomed.info/sct', code: '73595000', type: 'Quantity', value, unit });
const level = (valueCode: string | undefined, value: string) => ({ system: 'http://loinc.org', code: '93038-8', type: 'CodeableConcept', value, valueCode, valueSystem: valueCode ? 'http://loinc.org' : undefined });

describe('stressScore', () => {
  it('puts each kind of reading on 0..1', () => {
    expect(stressScore(pss(30))).toBe(0.75);
    expect(stressScore(pss(0))).toBe(0);
    expect(stressScore(device(62))).toBe(0.62);
    expect(stressScore(device(62, '%'))).toBe(0.62);
    expect(stressScore(level('LA13902-4', 'Quite a bit'))).toBe(0.75);
    expect(stressScore(level(undefined, 'Somewhat '))).toBe(0.5);
  });
  it('has no score for what it cannot read', () => {
    expect(stressScore(pss(41))).toBeUndefined();
    expect(stressScore(pss(-1))).toBeUndefined();
    expect(stressScore(device(101))).toBeUndefined();
    expect(stressScore(device(50, 'mmHg'))).toBeUndefined();
    expect(stressScore(level('LA-unknown', 'Very much'))).toBeUndefined();
    expect(stressScore({ system: 'http://loinc.org', code: '8867-4', type: 'Quantity', value: 80 })).toBeUndefined();
  });
});

describe('interventionDecision (stress-intervention/1)', () => {
  it('suggests at the high threshold, not below', () => {
    expect(interventionDecision(HIGH_STRESS, []).suggested).toBe(true);
    expect(interventionDecision(0.74, []).suggested).toBe(false);
    expect(interventionDecision(undefined, [0.1, 0.2]).suggested).toBe(false);
  });
  it('suggests on a strict rise of at least 0.2 over the last 3 readings', () => {
    expect(interventionDecision(0.6, [0.4, 0.5])).toEqual({ suggested: true, reason: 'rising stress over 3 readings: 0.4 → 0.5 → 0.6' });
    expect(interventionDecision(0.59, [0.4, 0.5]).suggested).toBe(false); // rise 0.19
    expect(interventionDecision(0.6, [0.4, 0.4]).suggested).toBe(false); // not strict
    expect(interventionDecision(0.6, [0.5, 0.4]).suggested).toBe(false); // falls then rises
    expect(interventionDecision(0.6, [0.4]).suggested).toBe(false); // too few readings
    expect(interventionDecision(0.6, [0.9, 0.4, 0.5]).suggested).toBe(true); // only the last two previous count
  });
});
