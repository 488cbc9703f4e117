import type { Resource } from '@medplum/fhirtypes';
import { badRequest } from '../operation-outcome';
import { IntegrityError } from '../write/constraint-errors';
import type { ParsedEntry } from './bundle-request';
import { nameEntry, namedFailure } from './entry-errors';

const entries: ParsedEntry[] = [
  { index: 0, method: 'POST', resourceType: 'Patient', fullUrl: 'urn:uuid:p' },
  { index: 1, method: 'POST', resourceType: 'Observation' },
  { index: 2, method: 'DELETE', resourceType: 'Patient', id: 'old' },
];
const targets = new Map([
  [0, { id: 'made-1', made: true }],
  [1, { id: 'made-2', made: true }],
  [2, { id: 'old' }],
]);
const written = new Map<number, Resource>([[1, { resourceType: 'Observation', status: 'final', code: {}, subject: { reference: 'Patient/gone' } } as Resource]]);
const issue = (err: unknown) => (err as IntegrityError).outcome.issue?.[0];

describe('nameEntry', () => {
  it('prefixes the entry and its request and names it in the expression, keeping the resource paths', () => {
    const named = nameEntry(badRequest('bad gender', ['Patient.gender']), entries[0]);
    expect(issue(named)).toMatchObject({ diagnostics: 'Bundle.entry[0] (POST Patient): bad gender', expression: ['Bundle.entry[0]', 'Patient.gender'] });
    expect(issue(nameEntry(badRequest('Bundle.entry[0]: x'), entries[0]))?.diagnostics).toBe('Bundle.entry[0] (POST Patient): x');
  });
});

describe('namedFailure', () => {
  it('names the entry holding a reference to a missing resource, and the one deleting a referenced one', () => {
    expect(issue(namedFailure(IntegrityError.missing('Patient/gone'), entries, targets, written))).toMatchObject({
      diagnostics: expect.stringMatching(/^Bundle\.entry\[1\] \(POST Observation\): Reference to Patient\/gone/),
      expression: ['Bundle.entry[1]'],
    });
    expect(issue(namedFailure(IntegrityError.referenced('Patient/old', 'Observation'), entries, targets, written))?.diagnostics).toMatch(/^Bundle\.entry\[2\] \(DELETE Patient\): Patient\/old is still referenced/);
  });

  it('replaces the ids made for entries by the entry, and leaves other errors alone', () => {
    const err = namedFailure(badRequest('Bundle.entry[1] (POST Observation): names Patient/made-1'), entries, targets, written);
    expect(issue(err)?.diagnostics).toBe('Bundle.entry[1] (POST Observation): names the new Patient of Bundle.entry[0] (fullUrl urn:uuid:p)');
    const other = new Error('boom');
    expect(namedFailure(other, entries, targets, written)).toBe(other);
  });
});
