import type { CapabilityStatement } from '@medplum/fhirtypes';

/**
 * Types others refer to, pulled first so that references to them usually resolve through the
 * mapping instead of a read per reference: who provides care, the patients, their encounters, then
 * the clinical records that others point at (a DiagnosticReport's results are Observations).
 * Observations come before Conditions because a Condition triggers the diagnosis AI, which reads
 * the patient's Observations: pulled the other way round, it would find too little to estimate.
 */
const FIRST = ['Organization', 'Location', 'Practitioner', 'PractitionerRole', 'Patient', 'RelatedPerson', 'Encounter'];
const THEN = ['Medication', 'Device', 'Specimen', 'Observation', 'Condition', 'Procedure', 'MedicationRequest', 'Immunization', 'ImagingStudy', 'Claim'];

/**
 * Types never pulled from what the remote can search: its own subscriptions and connections
 * (they would make this server call out on the remote's behalf) and its audit trail.
 */
export const NEVER_PULLED = new Set(['Subscription', 'Endpoint', 'AuditEvent']);

/** The types in pulling order (see FIRST and THEN; the rest alphabetically), without duplicates. Pure. */
export function orderForPull(types: readonly string[]): string[] {
  const rank = (t: string) => {
    const i = FIRST.indexOf(t);
    if (i >= 0) return i;
    const j = THEN.indexOf(t);
    return j >= 0 ? FIRST.length + j : FIRST.length + THEN.length;
  };
  return [...new Set(types)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The resource types a CapabilityStatement says can be searched (interaction search-type), minus NEVER_PULLED. Pure. */
export function searchableTypes(cs: CapabilityStatement): string[] {
  const types: string[] = [];
  for (const rest of cs.rest ?? []) {
    if (rest.mode && rest.mode !== 'server') continue;
    for (const r of rest.resource ?? []) {
      if (r.type && !NEVER_PULLED.has(r.type) && (r.interaction ?? []).some((i) => i.code === 'search-type')) types.push(r.type);
    }
  }
  return types;
}
