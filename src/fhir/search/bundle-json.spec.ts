import type { Bundle } from '@medplum/fhirtypes';
import { bundleJson, bundleObject, type RawBundle } from './bundle-json';

describe('bundle-json', () => {
  const raw: RawBundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: 2,
    link: [{ relation: 'self', url: 'http://x/fhir/Observation?code=a%22b' }],
    entry: [
      { fullUrl: 'http://x/fhir/Observation/1', json: '{"id": "1", "resourceType": "Observation", "note": [{"text": "\\"quoted\\" é"}]}', search: { mode: 'match' } },
      { fullUrl: 'http://x/fhir/Patient/p', resource: { resourceType: 'Patient', id: 'p' }, search: { mode: 'include' } },
    ],
  };

  it('splices raw entries into the same JSON as parsing and serialising them', () => {
    const text = bundleJson(raw);
    const expected: Bundle = bundleObject(raw);
    expect(JSON.parse(text)).toEqual(expected);
    expect(Object.keys(JSON.parse(text))).toEqual(['resourceType', 'type', 'total', 'link', 'entry']);
    expect(expected.entry?.[0].resource).toEqual({ id: '1', resourceType: 'Observation', note: [{ text: '"quoted" é' }] });
  });

  it('leaves `entry` out of a Bundle without entries (json.html: no empty arrays)', () => {
    const empty: RawBundle = { resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] };
    expect(JSON.parse(bundleJson(empty))).toEqual({ resourceType: 'Bundle', type: 'searchset', total: 0 });
    expect(bundleObject(empty)).toEqual({ resourceType: 'Bundle', type: 'searchset', total: 0 });
  });
});
