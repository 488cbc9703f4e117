import { tryGetDataType } from '@medplum/core';
import { codeElementSystem, valueSetSystem } from './bound-code-systems';
import { loadFhirDefinitions } from './fhir-definitions';

beforeAll(() => loadFhirDefinitions());

describe('valueSetSystem', () => {
  it('is the one code system a value set includes, with or without the canonical |version', () => {
    expect(valueSetSystem('http://hl7.org/fhir/ValueSet/administrative-gender')).toBe('http://hl7.org/fhir/administrative-gender');
    expect(valueSetSystem('http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1')).toBe('http://hl7.org/fhir/administrative-gender');
    // From the v3 definitions file.
    expect(valueSetSystem('http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification|2014-03-26')).toBe('http://terminology.hl7.org/CodeSystem/v3-Confidentiality');
  });

  it('follows included value sets: one system through them (SNOMED CT throughout) counts, filters or not', () => {
    // allergyintolerance-code: substance-code (SNOMED CT) plus SNOMED CT is-a filters.
    expect(valueSetSystem('http://hl7.org/fhir/ValueSet/allergyintolerance-code')).toBe('http://snomed.info/sct');
  });

  it('has none for a value set of several systems, or one it does not know', () => {
    // task-intent: task-intent and request-intent codes.
    expect(valueSetSystem('http://hl7.org/fhir/ValueSet/task-intent|4.0.1')).toBeUndefined();
    // Two value sets of two systems.
    expect(valueSetSystem('http://hl7.org/fhir/ValueSet/event-or-request-resource-types')).toBeUndefined();
    expect(valueSetSystem('http://example.org/ValueSet/nothing-known')).toBeUndefined();
  });
});

describe('codeElementSystem', () => {
  it('is the system of a required binding only: a preferred one lets the element hold any code', () => {
    expect(codeElementSystem(tryGetDataType('Patient')?.elements.gender)).toBe('http://hl7.org/fhir/administrative-gender');
    expect(codeElementSystem(tryGetDataType('Address')?.elements.use)).toBe('http://hl7.org/fhir/address-use');
    // Attachment.language: preferred binding to BCP-47 languages.
    expect(tryGetDataType('Attachment')?.elements.language.binding?.strength).toBe('preferred');
    expect(codeElementSystem(tryGetDataType('Attachment')?.elements.language)).toBeUndefined();
    expect(codeElementSystem(tryGetDataType('Task')?.elements.intent)).toBeUndefined();
    expect(codeElementSystem(undefined)).toBeUndefined();
  });
});
