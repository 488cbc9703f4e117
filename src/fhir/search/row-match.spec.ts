import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { extractIndexRows } from './index-extractor';
import { clauseMatchesRows } from './row-match';

beforeAll(() => loadFhirDefinitions());

const BASE = 'http://srv.example/fhir';
const patient: Resource = {
  resourceType: 'Patient',
  id: 'p1',
  name: [{ family: 'Müller', given: ['Ann Marie'] }],
  birthDate: '1981-04-05',
  identifier: [{ system: 'http://s', value: 'A1' }],
  address: [{ city: 'Springfield' }],
  active: true,
};
const observation: Resource = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2020-03-04T10:00:00Z',
};
const match = (r: Resource, name: string, value: string) => clauseMatchesRows(r.resourceType, name, value, extractIndexRows(r), BASE);

describe('clauseMatchesRows', () => {
  it('strings: prefix ignoring case and accents, :exact, :contains; a secret field by whole value', () => {
    expect(match(patient, 'family', 'mul')).toBe(true);
    expect(match(patient, 'name', 'ann')).toBe(true);
    expect(match(patient, 'family', 'smith')).toBe(false);
    expect(match(patient, 'family:exact', 'Müller')).toBe(true);
    expect(match(patient, 'family:exact', 'muller')).toBe(false);
    expect(match(patient, 'name:contains', 'arie')).toBe(true);
    expect(match(patient, 'address-city', 'springfield')).toBe(true);
    expect(match(patient, 'address-city', 'spring')).toBe(false); // matched by keyed hash: whole values only
  });

  it('tokens in every form, :not, and OR lists', () => {
    expect(match(patient, 'identifier', 'A1')).toBe(true);
    expect(match(patient, 'identifier', 'http://s|A1')).toBe(true);
    expect(match(patient, 'identifier', 'http://other|A1')).toBe(false);
    expect(match(patient, 'identifier', 'http://s|')).toBe(true);
    expect(match(patient, 'identifier', '|A1')).toBe(false);
    expect(match(observation, 'code', 'http://loinc.org|1-1,http://loinc.org|29463-7')).toBe(true);
    expect(match(observation, 'status:not', 'final')).toBe(false);
    expect(match(patient, 'active', 'true')).toBe(true);
  });

  it('dates with prefixes against the value range', () => {
    expect(match(patient, 'birthdate', '1981-04-05')).toBe(true);
    expect(match(patient, 'birthdate', '1981')).toBe(true);
    expect(match(patient, 'birthdate', '1981-04-06')).toBe(false);
    expect(match(patient, 'birthdate', 'ge1981-01-01')).toBe(true);
    expect(match(patient, 'birthdate', 'lt1981-04-05')).toBe(false);
    expect(match(observation, 'date', 'eb2021')).toBe(true);
    expect(match(observation, 'date', 'sa2021')).toBe(false);
    expect(match(observation, 'date', 'ap2020-03-04')).toBeUndefined();
  });

  it('references by Type/id, by id, with this server base, with a type modifier', () => {
    expect(match(observation, 'subject', 'Patient/p1')).toBe(true);
    expect(match(observation, 'subject', `${BASE}/Patient/p1`)).toBe(true);
    expect(match(observation, 'patient', 'p1')).toBe(true);
    expect(match(observation, 'subject:Patient', 'p1')).toBe(true);
    expect(match(observation, 'subject', 'Patient/p2')).toBe(false);
  });

  it(':missing, and what it leaves to the database', () => {
    expect(match(patient, 'gender:missing', 'true')).toBe(true);
    expect(match(patient, 'birthdate:missing', 'true')).toBe(false);
    expect(match(observation, 'subject.name', 'x')).toBeUndefined();
    expect(match(observation, 'value-quantity', '5')).toBeUndefined();
    expect(match(observation, 'code:text', 'weight')).toBeUndefined();
  });
});
