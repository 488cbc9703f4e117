import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { parseSearchRequest } from './search-request';

beforeAll(() => loadFhirDefinitions());

const parse = (params: Array<[string, string]>) => parseSearchRequest(params, { defaultCount: 20, maxCount: 1000 });

describe('_include and _revinclude target types', () => {
  it('a target type the parameter cannot point to is a 400 naming the parameter and its targets', () => {
    expect(() => parse([['_include', 'Observation:encounter:Patient']])).toThrow("_include=Observation:encounter:Patient: Observation's encounter refers only to Encounter or EpisodeOfCare, never to a Patient");
    expect(() => parse([['_include:iterate', 'Observation:encounter:Patient']])).toThrow(/encounter refers only to Encounter or EpisodeOfCare/);
    expect(() => parse([['_revinclude', 'Observation:encounter:Patient']])).toThrow(/^_revinclude=Observation:encounter:Patient: /);
  });

  it('a target it can point to, no target type, and what the search checks itself (unknown types and parameters) parse', () => {
    expect(parse([['_include', 'Observation:encounter:Encounter']]).include).toEqual([{ sourceType: 'Observation', code: 'encounter', targetType: 'Encounter', iterate: false }]);
    expect(parse([['_include', 'Observation:subject:Group']]).include[0].targetType).toBe('Group');
    expect(parse([['_include', 'Observation:encounter']]).include[0].targetType).toBeUndefined();
    expect(parse([['_include', 'Foo:bar:Patient']]).include[0].sourceType).toBe('Foo');
    expect(parse([['_include', 'Observation:code:Patient']]).include[0].code).toBe('code');
    expect(parse([['_include', '*:encounter:Patient']]).include[0].sourceType).toBe('*');
  });
});
