/**
 * Resource types whose stored copies are encrypted at rest with pgcrypto.
 * - Patient, RelatedPerson, Person: contact details (telecom, address) and national identifiers.
 * - DocumentReference, DiagnosticReport, Composition: the EHR's clinical documents (the seed's
 *   ehr_records data), which carry free text and attachments.
 * Everything else is stored as jsonb. Projection columns holding the same data (patients.contact_info,
 * patients.national_id, ehr_records.data) are encrypted too.
 */
export const ENCRYPTED_RESOURCE_TYPES: ReadonlySet<string> = new Set([
  'Patient',
  'RelatedPerson',
  'Person',
  'DocumentReference',
  'DiagnosticReport',
  'Composition',
]);

export function isEncryptedType(resourceType: string): boolean {
  return ENCRYPTED_RESOURCE_TYPES.has(resourceType);
}
