import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { extractTokenRows, extractIndexRows } from '../search/index-extractor';
import { criteriaLockKey, resolveCriteriaUrls, tokenCriteria } from './batch-criteria';

beforeAll(() => loadFhirDefinitions());

describe('tokenCriteria', () => {
  it('reads code=system|value, unescaped', () => {
    expect(tokenCriteria('Organization', 'identifier=https://x.org|abc')).toEqual({ code: 'identifier', system: 'https://x.org', value: 'abc' });
    expect(tokenCriteria('Organization', 'identifier=urn:a\\|b|v\\,1')).toEqual({ code: 'identifier', system: 'urn:a|b', value: 'v,1' });
    expect(tokenCriteria('Patient', 'identifier=http%3A%2F%2Fs|1')).toEqual({ code: 'identifier', system: 'http://s', value: '1' });
  });

  it('refuses every other form (decided by the database, or entry by entry)', () => {
    for (const c of ['identifier=abc', 'identifier=|abc', 'identifier=s|', 'identifier=s|a,s|b', 'identifier:not=s|a', 'identifier=s|a&name=x', 'name=s|a', '_id=s|a', 'organization.identifier=s|a', 'nope=s|a']) {
      expect([c, tokenCriteria('Organization', c)]).toEqual([c, undefined]);
    }
  });
});

describe('criteriaLockKey', () => {
  it('is the same for the same parameters in any order', () => {
    expect(criteriaLockKey('Patient', 'b=2&a=1')).toBe(criteriaLockKey('Patient', 'a=1&b=2'));
    expect(criteriaLockKey('Patient', 'a=1')).not.toBe(criteriaLockKey('Organization', 'a=1'));
  });
});

describe('extractTokenRows', () => {
  it('gives the token rows of one parameter exactly as extractIndexRows does', () => {
    const org = { resourceType: 'Organization' as const, id: 'o', identifier: [{ system: 's', value: 'v' }, { value: 'w' }], type: [{ coding: [{ system: 't', code: 'prov' }] }] };
    for (const code of ['identifier', 'type']) {
      expect(extractTokenRows(org, code)).toEqual(extractIndexRows(org).token.filter((r) => r.code === code));
    }
    expect(extractTokenRows(org, 'name')).toEqual([]);
  });
});

describe('resolveCriteriaUrls', () => {
  const resolved = new Map([
    ['urn:uuid:p1', 'Patient/abc'],
    ['https://ehr.example/fhir/Encounter/e1', 'Encounter/e-9'],
  ]);
  const pending = new Set(['urn:uuid:later']);

  it('replaces values naming a resolved entry (in OR lists too), _id by the id alone, and leaves the rest', () => {
    const r = resolveCriteriaUrls('subject=urn:uuid:p1&code=http://loinc.org|8867-4&encounter=https://ehr.example/fhir/Encounter/e1,Encounter/x', resolved, pending);
    expect('criteria' in r && new URLSearchParams(r.criteria).getAll('subject')).toEqual(['Patient/abc']);
    expect('criteria' in r && new URLSearchParams(r.criteria).get('encounter')).toBe('Encounter/e-9,Encounter/x');
    expect('criteria' in r && new URLSearchParams(r.criteria).get('code')).toBe('http://loinc.org|8867-4');
    expect(resolveCriteriaUrls('_id=urn:uuid:p1', resolved, pending)).toEqual({ criteria: '_id=abc' });
  });

  it('returns criteria naming nothing of the bundle as they are, and names an entry not resolved yet', () => {
    expect(resolveCriteriaUrls('identifier=a|b&subject=urn:uuid:elsewhere', resolved, pending)).toEqual({ criteria: 'identifier=a|b&subject=urn:uuid:elsewhere' });
    expect(resolveCriteriaUrls('subject=urn:uuid:later', resolved, pending)).toEqual({ unresolved: 'urn:uuid:later' });
  });
});
