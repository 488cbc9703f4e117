import { randomInt } from 'node:crypto';
import type { Json } from './fhir-api';

/**
 * Small valid R4 resources for the core types, each referencing local resources by `Type/id`.
 * Every builder takes overrides that are merged over its defaults (shallowly).
 */

export const LOINC = 'http://loinc.org';
export const US_SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';

/** A random SSN in the 999- range (never issued), so parallel tests do not collide on the national id. */
export function randomSsn(): string {
  return `999-${String(randomInt(10, 99))}-${String(randomInt(1000, 9999))}`;
}

export function patient(o: { family?: string; given?: string; ssn?: string | null; birthDate?: string; phone?: string; street?: string } & Json = {}): Json {
  const { family = 'Testperson', given = 'Alex', ssn = randomSsn(), birthDate = '1980-04-12', phone = '555-010-7788', street = '42 Elm Street', ...rest } = o;
  return {
    resourceType: 'Patient',
    identifier: ssn ? [{ system: US_SSN_SYSTEM, value: ssn }] : undefined,
    name: [{ use: 'official', family, given: [given] }],
    telecom: [{ system: 'phone', value: phone, use: 'home' }],
    gender: 'female',
    birthDate,
    address: [{ line: [street], city: 'Springfield', postalCode: '01101', country: 'US' }],
    ...rest,
  };
}

export function practitioner(o: { family?: string; given?: string } & Json = {}): Json {
  const { family = 'House', given = 'Gregory', ...rest } = o;
  return {
    resourceType: 'Practitioner',
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: String(randomInt(1000000000, 1999999999)) }],
    name: [{ family, given: [given], prefix: ['Dr.'] }],
    ...rest,
  };
}

export function encounter(patientId: string, o: Json = {}): Json {
  return {
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    type: [{ text: 'General examination' }],
    subject: { reference: `Patient/${patientId}` },
    period: { start: '2021-03-04T09:15:00Z', end: '2021-03-04T09:45:00Z' },
    ...o,
  };
}

export function condition(patientId: string, o: Json = {}): Json {
  return {
    resourceType: 'Condition',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006', display: 'Diabetes mellitus type 2' }], text: 'Type 2 diabetes' },
    subject: { reference: `Patient/${patientId}` },
    recordedDate: '2021-03-04T09:30:00Z',
    ...o,
  };
}

export function medicationRequest(patientId: string, o: Json = {}): Json {
  return {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: {
      coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '860975', display: 'metformin 500 MG Oral Tablet' }],
      text: 'Metformin 500 mg tablet',
    },
    subject: { reference: `Patient/${patientId}` },
    authoredOn: '2021-03-04T09:40:00Z',
    dosageInstruction: [{ text: '1 tablet twice daily' }],
    ...o,
  };
}

/** An Observation read by a device: lands in monitoring_data. */
export function deviceObservation(patientId: string, o: Json = {}): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: LOINC, code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2021-03-04T10:00:00Z',
    valueQuantity: { value: 97, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
    device: { display: 'Pulse oximeter PX-100' },
    ...o,
  };
}

/** A vital-signs panel (LOINC 85353-1) with components: lands in icu_monitoring. */
export function vitalSignsPanel(patientId: string, o: Json = {}): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code: '85353-1', display: 'Vital signs panel' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2021-03-04T11:00:00Z',
    component: [
      { code: { coding: [{ system: LOINC, code: '8867-4', display: 'Heart rate' }] }, valueQuantity: { value: 88, unit: '/min' } },
      { code: { coding: [{ system: LOINC, code: '9279-1', display: 'Respiratory rate' }] }, valueQuantity: { value: 18, unit: '/min' } },
    ],
    ...o,
  };
}

/** A lab Observation with no device: stored and versioned, but no seed table takes it. */
export function labObservation(patientId: string, o: Json = {}): Json {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: LOINC, code: '2339-0', display: 'Glucose [Mass/volume] in Blood' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2021-03-04T08:00:00Z',
    valueQuantity: { value: 142, unit: 'mg/dL' },
    ...o,
  };
}
