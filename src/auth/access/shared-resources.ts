import { hiddenFromPatients, mayReferToPatient } from '../../fhir/definitions/patient-references';

/**
 * Whether a resource that belongs to no patient (a shared row) may be shown to the patient-context
 * token of `patientId`: never a type hidden from patients (Subscription, Bundle, Parameters); always
 * a type that cannot refer to a Patient (Practitioner, Organization, Medication...); otherwise only
 * when every Patient its content refers to (in any element, extensions and contained resources
 * included) is the token's own, and it contains no Patient. Pure; `json` is the stored text (null
 * for a deletion, which says nothing).
 */
export function sharedVisibleTo(patientId: string, resource: { resourceType: string; json: string | null }): boolean {
  if (hiddenFromPatients(resource.resourceType)) return false;
  if (!mayReferToPatient(resource.resourceType) || resource.json === null) return true;
  return !refersToOtherPatient(JSON.parse(resource.json) as unknown, patientId, true);
}

const PATIENT_REF = /^(?:.*\/)?Patient\/([^/]+)(?:\/_history\/[^/]+)?$/;

function refersToOtherPatient(value: unknown, patientId: string, top: boolean): boolean {
  if (Array.isArray(value)) return value.some((v) => refersToOtherPatient(v, patientId, false));
  if (value === null || typeof value !== 'object') return false;
  const o = value as Record<string, unknown>;
  if (!top && o.resourceType === 'Patient') return true; // a contained Patient: whose is unknown
  for (const [k, v] of Object.entries(o)) {
    if (k === 'reference' && typeof v === 'string') {
      const m = PATIENT_REF.exec(v);
      if (m && m[1] !== patientId) return true;
    } else if (refersToOtherPatient(v, patientId, false)) return true;
  }
  return false;
}
