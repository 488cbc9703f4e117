import { tryGetDataType } from '@medplum/core';
import { isResourceType, loadFhirDefinitions, patientCompartmentPaths } from './fhir-definitions';

/**
 * Which resource types can say something about a Patient without being filed under one, derived
 * from the R4 StructureDefinitions (no hand-kept list). Pure (after loadFhirDefinitions).
 *
 * Followed: the resource's elements, its backbone elements and the datatypes they use (an
 * Annotation's author, a Signature's who); not extensions (every element has them) nor `contained`.
 */

const PATIENT_TARGETS = new Set(['http://hl7.org/fhir/StructureDefinition/Patient', 'http://hl7.org/fhir/StructureDefinition/Resource']);
/** Datatypes whose elements are not followed. */
const NOT_FOLLOWED = new Set(['Extension', 'Meta', 'Narrative', 'Element', 'BackboneElement']);

type Finding = 'reference' | 'embeds' | undefined;
const memo = new Map<string, Finding>();

/**
 * Whether resources of `type` may hold a Reference to a Patient (a Reference whose targets include
 * Patient or any resource). Types that cannot (Practitioner, Organization, Location, Medication,
 * ValueSet...) are nobody's record: every token that may read the type sees them.
 */
export function mayReferToPatient(type: string): boolean {
  loadFhirDefinitions();
  return walk(type, new Set()) !== undefined;
}

/**
 * Types a patient-context token never sees, whatever they refer to: Subscriptions (their
 * channel.header holds other systems' credentials, and their criteria name patients in a string no
 * index can check), and types outside the Patient compartment that hold whole resources
 * (Bundle.entry.resource, Parameters.parameter.resource), which may be other patients' and whose
 * contents the reference index does not cover.
 */
export function hiddenFromPatients(type: string): boolean {
  if (type === 'Subscription') return true;
  if (type === 'Patient' || patientCompartmentPaths(type).length > 0) return false;
  loadFhirDefinitions();
  return walk(type, new Set()) === 'embeds';
}

/**
 * Whether resources of `type` are patients' records: Patient and the types of the R4 Patient
 * CompartmentDefinition (Observation, Encounter, Appointment...), and Binary (an attachment: it
 * is filed under the owner of its securityContext, see the write path's ownerByTarget). One of
 * these filed under no patient (its subject a logical reference by identifier, a display, another
 * server's Patient, a Group; a Binary without a patient's securityContext) may still be some
 * patient's record, and nothing says whose: a patient-context token never sees it.
 */
export function patientRecordType(type: string): boolean {
  return type === 'Patient' || type === 'Binary' || patientCompartmentPaths(type).length > 0;
}

function walk(typeName: string, visiting: Set<string>): Finding {
  if (memo.has(typeName)) return memo.get(typeName);
  if (visiting.has(typeName)) return undefined; // a cycle: decided where it began
  visiting.add(typeName);
  let found: Finding;
  for (const [name, element] of Object.entries(tryGetDataType(typeName)?.elements ?? {})) {
    if (name === 'contained' || name === 'extension' || name === 'modifierExtension') continue;
    for (const t of element.type) {
      let here: Finding;
      if (t.code === 'Reference') here = !t.targetProfile?.length || t.targetProfile.some((p) => PATIENT_TARGETS.has(p)) ? 'reference' : undefined;
      else if (t.code === 'Resource' || isResourceType(t.code)) here = 'embeds';
      else if (!NOT_FOLLOWED.has(t.code) && /^[A-Z]/.test(t.code)) here = walk(t.code, visiting);
      if (here === 'embeds' || (here && !found)) found = here;
    }
    if (found === 'embeds') break;
  }
  visiting.delete(typeName);
  if (!visiting.size) memo.set(typeName, found); // inner results may be cut short by a cycle

  return found;
}

/**
 * Whether a resource that belongs to no patient (a shared row) may be shown to the patient-context
 * token of `patientId`: never a type hidden from patients (Subscription, Bundle, Parameters), nor
 * one of a patient record type (patientRecordType: an Observation about someone known only by
 * identifier); otherwise only when every Patient its content refers to (in any element, extensions and contained
 * resources included, whatever its type: an Organization can carry one in an extension) is the
 * token's own, and it contains no Patient. (The search's SQL pre-filter skips the types that cannot
 * refer to a Patient; this check runs on every shared resource shown.) Pure; `json` is the stored text (null
 * for a deletion, which says nothing).
 */
export function sharedVisibleTo(patientId: string, resource: { resourceType: string; json: string | null }): boolean {
  if (hiddenFromPatients(resource.resourceType) || patientRecordType(resource.resourceType)) return false;
  if (resource.json === null) return true;
  // Even a type that cannot refer to a Patient may carry one in an extension or a contained resource.
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
