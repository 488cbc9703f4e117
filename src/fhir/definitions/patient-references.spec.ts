import { fhirResourceTypes, patientCompartmentPaths } from './fhir-definitions';
import { hiddenFromPatients, mayReferToPatient, patientRecordType, sharedVisibleTo } from './patient-references';

describe('patient-references (from the R4 StructureDefinitions)', () => {
  it('types outside the compartment that can name no Patient', () => {
    for (const t of ['Practitioner', 'Organization', 'Location', 'Medication', 'ValueSet', 'CodeSystem', 'Endpoint', 'HealthcareService']) {
      expect([t, mayReferToPatient(t)]).toEqual([t, false]);
    }
  });

  it('types outside the compartment that can: the tester findings among them', () => {
    for (const t of ['GuidanceResponse', 'Contract', 'VerificationResult', 'Group', 'Basic', 'Bundle']) expect([t, mayReferToPatient(t)]).toEqual([t, true]);
  });

  it('hidden from patient tokens: Subscription, and the shared types that embed resources', () => {
    const hidden = [...fhirResourceTypes()].filter(hiddenFromPatients).sort();
    expect(hidden).toEqual(['Bundle', 'Parameters', 'Subscription']);
    expect(hiddenFromPatients('Observation')).toBe(false);
    expect(patientCompartmentPaths('Subscription')).toEqual([]);
  });

  it('patient record types: Patient and the Patient compartment types, not the shared ones', () => {
    for (const t of ['Patient', 'Observation', 'Encounter', 'Appointment', 'Group', 'Provenance', 'DiagnosticReport']) expect([t, patientRecordType(t)]).toEqual([t, true]);
    for (const t of ['Practitioner', 'Organization', 'GuidanceResponse', 'Contract', 'Medication']) expect([t, patientRecordType(t)]).toEqual([t, false]);
  });

  it('sharedVisibleTo: a patient record type filed under no patient is never shown, whatever it names', () => {
    const unfiled = { resourceType: 'Observation', subject: { identifier: { system: 'http://hl7.org/fhir/sid/us-ssn', value: '999-52-9302' } }, focus: [{ reference: 'Patient/a' }] };
    expect(sharedVisibleTo('a', { resourceType: 'Observation', json: JSON.stringify(unfiled) })).toBe(false);
    expect(sharedVisibleTo('a', { resourceType: 'Observation', json: null })).toBe(false);
    expect(sharedVisibleTo('a', { resourceType: 'GuidanceResponse', json: JSON.stringify({ resourceType: 'GuidanceResponse', subject: { reference: 'Patient/a' } }) })).toBe(true);
    expect(sharedVisibleTo('a', { resourceType: 'GuidanceResponse', json: JSON.stringify({ resourceType: 'GuidanceResponse', subject: { reference: 'Patient/b' } }) })).toBe(false);
  });
});
