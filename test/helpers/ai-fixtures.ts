import type { FhirApi, Json } from './fhir-api';

/** The inputs the built-in AI models read, as a test writes them. */
export const LOINC = 'http://loinc.org';
export const CAD = { system: 'http://snomed.info/sct', code: '53741008', display: 'Coronary arteriosclerosis' };

/** A LOINC-coded Observation with a UCUM quantity. */
export function quantity(patientId: string, code: string, value: number, unit: string): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2024-05-01T10:00:00Z',
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  };
}

/** One of the Cleveland inputs that have no LOINC code (the CAD model card's local codes). */
export function clevelandInteger(patientId: string, code: string, value: number): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'urn:fhir-ai-server:cleveland', code }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2024-05-01T10:00:00Z',
    valueInteger: value,
  };
}

/** A textbook high-risk coronary profile for the patient (the diagnosis model's inputs). */
export async function highRiskCadObservations(api: FhirApi, patientId: string): Promise<void> {
  for (const o of [
    quantity(patientId, '8480-6', 160, 'mm[Hg]'),
    quantity(patientId, '2093-3', 290, 'mg/dL'),
    clevelandInteger(patientId, 'chest-pain-type', 4),
    clevelandInteger(patientId, 'max-heart-rate-exercise', 110),
    clevelandInteger(patientId, 'exercise-induced-angina', 1),
    clevelandInteger(patientId, 'fluoroscopy-major-vessels', 2),
    clevelandInteger(patientId, 'thallium-scan', 7),
    clevelandInteger(patientId, 'st-slope-peak-exercise', 2),
  ]) {
    await api.created(o);
  }
}
