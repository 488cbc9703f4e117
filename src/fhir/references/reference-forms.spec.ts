import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { OperationOutcomeError } from '../operation-outcome';
import { referenceFormProblem, requireStorableReferences } from './reference-forms';

beforeAll(() => loadFhirDefinitions());

const observation = (subject: Record<string, unknown>, extra: Record<string, unknown> = {}): Resource =>
  ({ resourceType: 'Observation', status: 'final', code: { text: 'HIV viral load' }, subject, ...extra }) as Resource;

function refusal(resource: Resource): { status: number; text: string } | undefined {
  try {
    requireStorableReferences(resource);
    return undefined;
  } catch (e) {
    if (!(e instanceof OperationOutcomeError)) throw e;
    return { status: e.status, text: JSON.stringify(e.outcome) };
  }
}

describe('referenceFormProblem', () => {
  it.each(['Patient/p1', 'Patient/p1/_history/2', '#contained', '#', 'urn:uuid:6a1b2c3d-0000-4000-8000-000000000002', 'urn:oid:1.2.3', 'https://other-hospital.example/fhir/Patient/123'])(
    'accepts %s',
    (ref) => expect(referenceFormProblem(ref)).toBeUndefined(),
  );

  it.each([
    ['a bare id', 'b7c1a5c4-0000-4000-8000-000000000001', /relative URL \(Type\/id\)/],
    ['an SSN', '999-52-9302', /relative URL/],
    ['an unknown type', 'Foo/1', /"Foo" is not a resource type/],
    ['a path that is no resource', 'fhir/Patient/1', /relative URL/],
    ['a conditional reference', 'Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-22-1962', /only inside a transaction or batch/],
  ])('refuses %s', (_name, ref, why) => expect(referenceFormProblem(ref)).toMatch(why));
});

describe('requireStorableReferences', () => {
  it('refuses a bare id with 400, naming the element, whether or not Reference.type is given', () => {
    const found = refusal(observation({ reference: 'p2', type: 'Patient' }));
    expect(found?.status).toBe(400);
    expect(found?.text).toContain('Observation.subject.reference');
  });

  it('looks into arrays, datatypes, extensions and contained resources', () => {
    expect(refusal(observation({ reference: 'Patient/p1' }, { performer: [{ reference: 'Practitioner/d1' }, { reference: 'd2' }] }))?.text).toContain('Observation.performer[1].reference');
    expect(refusal(observation({ reference: 'Patient/p1' }, { note: [{ text: 'x', authorReference: { reference: 'd3' } }] }))?.text).toContain('Observation.note[0].authorReference.reference');
    expect(refusal(observation({ reference: 'Patient/p1' }, { extension: [{ url: 'http://example.org/x', valueReference: { reference: 'p2' } }] }))?.text).toContain(
      'Observation.extension[0].valueReference.reference',
    );
    expect(refusal(observation({ reference: '#s' }, { contained: [{ resourceType: 'Specimen', id: 's', subject: { reference: 'p2' } }] }))?.text).toContain(
      'Observation.contained[0].subject.reference',
    );
  });

  it('refuses a conditional reference (left only when no transaction resolved it)', () => {
    expect(refusal(observation({ reference: 'Patient?identifier=http://hl7.org/fhir/sid/us-ssn|999-22-1962' }))?.status).toBe(400);
  });

  it('keeps logical references by identifier, displays, and the literal forms', () => {
    expect(refusal(observation({ identifier: { system: 'http://hl7.org/fhir/sid/us-ssn', value: '999-52-9302' }, display: 'Antonio Carmona' }))).toBeUndefined();
    expect(refusal(observation({ reference: 'Patient/p1' }, { performer: [{ reference: 'https://other.example/fhir/Practitioner/1' }, { reference: 'urn:uuid:6a1b2c3d-0000-4000-8000-000000000002' }] }))).toBeUndefined();
  });

  it('leaves strings that are not a Reference.reference alone (an Identifier value, a uri)', () => {
    expect(refusal(observation({ reference: 'Patient/p1' }, { identifier: [{ system: 'urn:x', value: 'p2' }], derivedFrom: [] }))).toBeUndefined();
  });
});
