import type { PreparedInput } from './ai-plugin';
import { basisKey } from './result-basis';

type Prepared = Exclude<PreparedInput, { kind: 'fail' }>;
const run = (basis: string[], row: Record<string, number>, more: Partial<Prepared> = {}): Prepared => ({ kind: 'run', basis, row, imputed: [], problems: [], ...more }) as Prepared;

describe('basisKey', () => {
  it('names the model version, each input resource and the values fed, whatever their order', () => {
    const key = basisKey('triage-news2-1.0.0', run(['Observation/b', 'Observation/a'], { spo2: 97, pulse_rate: 135 }));
    expect(key).toBe('triage-news2-1.0.0 Observation/a Observation/b pulse_rate=135 spo2=97');
    expect(basisKey('triage-news2-1.0.0', run(['Observation/a', 'Observation/b', 'Observation/a'], { pulse_rate: 135, spo2: 97 }))).toBe(key);
  });

  it('is the same for a new version of an input whose value did not change (an interpretation or a note added)', () => {
    // Version ids are not part of the key: the model is fed the same numbers.
    expect(basisKey('m-1', run(['Observation/a'], { x: 1 }))).toBe(basisKey('m-1', run(['Observation/a'], { x: 1 })));
  });

  it('differs for a changed value, another model version, another set of inputs, or other imputations and refusals', () => {
    const key = basisKey('m-1', run(['Observation/a'], { x: 1, y: Number.NaN }, { imputed: ['y'] }));
    expect(basisKey('m-1', run(['Observation/a'], { x: 2, y: Number.NaN }, { imputed: ['y'] }))).not.toBe(key);
    expect(basisKey('m-2', run(['Observation/a'], { x: 1, y: Number.NaN }, { imputed: ['y'] }))).not.toBe(key);
    expect(basisKey('m-1', run(['Observation/a', 'Observation/b'], { x: 1, y: Number.NaN }, { imputed: ['y'] }))).not.toBe(key);
    expect(basisKey('m-1', run(['Observation/a'], { x: 1, y: Number.NaN }, { imputed: ['y'], problems: ['y: -5 /min is implausible'] }))).not.toBe(key);
    const insufficient: Prepared = { kind: 'insufficient', basis: ['Observation/a'], imputed: ['y'], problems: [], reason: '1 of 2 known' };
    expect(basisKey('m-1', insufficient)).not.toBe(key);
    expect(basisKey('m-1', insufficient)).toBe(basisKey('m-1', { ...insufficient }));
  });
});
