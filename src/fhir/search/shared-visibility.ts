import { hiddenFromPatients, mayReferToPatient } from '../definitions/patient-references';
import { FALSE, TRUE, join, raw, sql, type Sql } from '../../database/sql-fragment';
import { nameLit } from './sql-names';

type Alias = ReturnType<typeof raw>;

/**
 * The search side of the rule in src/fhir/definitions/patient-references.ts (sharedVisibleTo), for a patient-context token
 * of `compartment`: a resource of no patient (index rows with patient_id '') matches only when
 * its type is not hidden from patients and, if its type may refer to a Patient, no row of the
 * reference index says it refers to another one. Each check is a probe of search_reference by
 * (resource_type, resource_id), so a search stays driven by its own index rows. Pure.
 */
export function sharedRowVisible(type: string, id: Sql, compartment: string, a: Alias): Sql {
  if (hiddenFromPatients(type)) return FALSE;
  if (!mayReferToPatient(type)) return TRUE;
  return sql`NOT EXISTS (SELECT 1 FROM search_reference ${a} WHERE ${a}.resource_type = ${nameLit(type)} AND ${a}.resource_id = ${id}
    AND ${a}.patient_id = '' AND ${a}.target_type = 'Patient' AND ${a}.target_id <> ${compartment})`;
}

/**
 * As sharedRowVisible, for the target of a chain or the source of a _has; its condition only
 * touches shared rows (patient_id ''): one in a patient's compartment is confined by its own index rows.
 */
export function sharedTargetVisible(type: string, id: Sql, compartment: string, a: Alias): Sql {
  if (type === 'Patient') return TRUE; // a Patient is always in the patient table
  return sharedRowVisible(type, id, compartment, a);
}

/**
 * The condition on rows of fhir_resource (every one shared) of the types searched: the types that
 * cannot refer to a Patient pass as they are, the others by the probe. Types hidden from patients
 * must have been left out by the caller.
 */
export function sharedArmVisible(types: string[], compartment: string): Sql {
  const free = types.filter((t) => !mayReferToPatient(t));
  if (free.length === types.length) return TRUE;
  const probe = sql`NOT EXISTS (SELECT 1 FROM search_reference sv WHERE sv.resource_type = fhir_resource.resource_type AND sv.resource_id = fhir_resource.id
    AND sv.patient_id = '' AND sv.target_type = 'Patient' AND sv.target_id <> ${compartment})`;
  return free.length ? sql`(resource_type IN (${join(free.map(nameLit), ', ')}) OR ${probe})` : probe;
}
