import type { Json } from './fhir-api';

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
