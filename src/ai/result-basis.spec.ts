import type { Resource } from '@medplum/fhirtypes';
import { basisKey } from './result-basis';

const obs = (id: string, versionId: string): Resource => ({ resourceType: 'Observation', id, meta: { versionId }, status: 'final', code: {} }) as Resource;

describe('basisKey', () => {
  it('names the model version and each input version, whatever their order', () => {
    const loaded = [obs('a', '1'), obs('b', '3')];
    expect(basisKey('triage-news2-1.0.0', ['Observation/b', 'Observation/a'], loaded)).toBe('triage-news2-1.0.0 Observation/a/_history/1 Observation/b/_history/3');
    expect(basisKey('triage-news2-1.0.0', ['Observation/a', 'Observation/b', 'Observation/a'], loaded)).toBe(basisKey('triage-news2-1.0.0', ['Observation/b', 'Observation/a'], loaded));
  });

  it('differs for a new version of an input, another model version, or another set of inputs', () => {
    const key = basisKey('m-1', ['Observation/a'], [obs('a', '1')]);
    expect(basisKey('m-1', ['Observation/a'], [obs('a', '2')])).not.toBe(key);
    expect(basisKey('m-2', ['Observation/a'], [obs('a', '1')])).not.toBe(key);
    expect(basisKey('m-1', ['Observation/a', 'Observation/b'], [obs('a', '1'), obs('b', '1')])).not.toBe(key);
    expect(basisKey('m-1', [], [])).toBe('m-1');
  });
});
