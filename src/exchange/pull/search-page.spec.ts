import { matchesOf, nextLinkOf, searchPageProblem } from './search-page';

describe('searchPageProblem', () => {
  it('takes a searchset Bundle, empty or with entries and links', () => {
    expect(searchPageProblem({ resourceType: 'Bundle', type: 'searchset' })).toBeUndefined();
    const page = { resourceType: 'Bundle', type: 'searchset', link: [{ relation: 'next', url: 'https://ehr/fhir/Patient?page=2' }], entry: [{ resource: { resourceType: 'Patient', id: 'a' } }, { fullUrl: 'x' }] };
    expect(searchPageProblem(page)).toBeUndefined();
    expect(nextLinkOf(page as never)).toBe('https://ehr/fhir/Patient?page=2');
    expect(matchesOf(page as never)).toEqual([{ resourceType: 'Patient', id: 'a' }]);
  });

  it('says why anything else is not a page', () => {
    expect(searchPageProblem({ resourceType: 'OperationOutcome', issue: [{ diagnostics: 'too busy' }] })).toBe('the answer is an OperationOutcome, not a searchset Bundle (too busy)');
    expect(searchPageProblem({ resourceType: 'Patient', id: 'p' })).toMatch(/a Patient, not a searchset Bundle/);
    expect(searchPageProblem({ resourceType: 'Bundle', type: 'history' })).toMatch(/type "history", not searchset/);
    expect(searchPageProblem({ resourceType: 'Bundle', type: 'searchset', entry: {} })).toMatch(/entry is an object, not an array/);
    expect(searchPageProblem({ resourceType: 'Bundle', type: 'searchset', entry: [null] })).toMatch(/entry\[0\] is null/);
    expect(searchPageProblem({ resourceType: 'Bundle', type: 'searchset', entry: [{ resource: 'x' }] })).toMatch(/entry\[0\] is an entry whose resource is not a resource/);
    expect(searchPageProblem({ resourceType: 'Bundle', type: 'searchset', link: 'next' })).toMatch(/link is not an array/);
    expect(searchPageProblem('<html>')).toMatch(/not a JSON object \(a string\)/);
    expect(searchPageProblem(null)).toMatch(/not a JSON object \(null\)/);
  });
});
