import { fhirResourceTypes, patientCompartmentPaths } from './fhir-definitions';
import { hiddenFromPatients, mayReferToPatient } from './patient-references';

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
});
