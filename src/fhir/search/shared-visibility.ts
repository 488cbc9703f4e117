import { hiddenFromPatients, mayReferToPatient, patientRecordType } from '../definitions/patient-references';
import { FALSE, TRUE, join, raw, sql, type Sql } from '../../database/sql-fragment';
import { nameLit } from './sql-names';
import { indexTable } from './index-tables';

type Alias = ReturnType<typeof raw>;

/**
 * The search side of the rule in src/fhir/definitions/patient-references.ts (sharedVisibleTo), for a patient-context token
 * of `compartment`: a resource of no patient (index rows with patient_id '') matches only when
 * its type is not hidden from patients and, if its type may refer to a Patient, no row of the
 * reference index says it refers to another one. Each check is a probe of search_reference by
 * (resource_type, resource_id), so a search stays driven by its own index rows. Pure.
 */
export function sharedRowVisible(type: string, id: Sql, compartment: string, a: Alias): Sql {
  if (hiddenFromPatients(type) || patientRecordType(type)) return FALSE;
  if (!mayReferToPatient(type)) return TRUE;
  return sql`NOT EXISTS (SELECT 1 FROM ${raw(indexTable(type, 'reference'))} ${a} WHERE ${a}.resource_type = ${nameLit(type)} AND ${a}.resource_id = ${id}
    AND ${a}.patient_id = '' AND ${a}.target_type = 'Patient' AND ${a}.target_id <> ${compartment})`;
}

/**
 * As sharedRowVisible, for the target of a chain or the source of a _has; its condition only
 * touches shared rows (patient_id ''): one in a patient's compartment is confined by its own index rows.
 */
export function sharedTargetVisible(type: string, id: Sql, compartment: string, a: Alias): Sql {
  if (type === 'Patient') return TRUE; // a Patient is always in the patient table
  // A patient record type: only the token's own (by primary key); one filed under no patient never.
  if (patientRecordType(type)) {
    return sql`EXISTS (SELECT 1 FROM fhir_patient_resource ${a} WHERE ${a}.patient_id = ${compartment} AND ${a}.resource_type = ${nameLit(type)} AND ${a}.id = ${id})`;
  }
  return sharedRowVisible(type, id, compartment, a);
}

/**
 * The condition on rows of fhir_resource (every one shared) of the types searched: the types that
 * cannot refer to a Patient pass as they are, the others by the probe. Types hidden from patients
 * and patient record types (sharedWithPatients) must have been left out by the caller.
 */
export function sharedArmVisible(types: string[], compartment: string): Sql {
  const content = sharedContentVisible(compartment);
  const free = types.filter((t) => !mayReferToPatient(t));
  if (free.length === types.length) return content;
  const probe = sql`NOT EXISTS (SELECT 1 FROM search_reference sv WHERE sv.resource_type = fhir_resource.resource_type AND sv.resource_id = fhir_resource.id
    AND sv.patient_id = '' AND sv.target_type = 'Patient' AND sv.target_id <> ${compartment})`;
  return sql`${free.length ? sql`(resource_type IN (${join(free.map(nameLit), ', ')}) OR ${probe})` : probe} AND ${content}`;
}

/**
 * sharedVisibleTo's content check in SQL, on a row of fhir_resource: no `reference` anywhere (extensions
 * and contained resources included) names another Patient (`[base/]Patient/id[/_history/v]`, the same
 * pattern), and no nested resource is a Patient. So the rows a search counts and pages are those it
 * shows. `table`: the alias of the fhir_resource row (code-chosen, never a request's). Shared rows shown to patients are never encrypted (every encrypted type is a patient record
 * type); one that were is left out.
 */
export function sharedContentVisible(compartment: string, table = 'fhir_resource'): Sql {
  const content = raw(`${table}.content`);
  // The paths and the pattern travel as parameters: a `?` in the statement's text is a placeholder.
  // The stored json is cast once for the jsonpath functions (jsonb only): OFFSET 0 keeps the
  // planner from substituting the cast into both uses, which would parse the document twice.
  return sql`(${content} IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM (SELECT ${content}::jsonb AS doc OFFSET 0) c
      WHERE EXISTS (SELECT 1 FROM jsonb_path_query(c.doc, ${REFERENCES}::jsonpath) sref(v)
                    WHERE substring(sref.v #>> '{}' from ${PATIENT_REFERENCE}::text) <> ${compartment})
         OR jsonb_path_exists(c.doc, ${NESTED_PATIENT}::jsonpath)))`;
}

/** Every string `reference` member at any depth. */
const REFERENCES = 'lax $.**.reference ? (@.type() == "string")';
/** patient-references.ts's PATIENT_REF, its one group the Patient's id. */
const PATIENT_REFERENCE = '^(?:.*/)?Patient/([^/]+)(?:/_history/[^/]+)?$';
/** A Patient below the top (a contained one). */
const NESTED_PATIENT = 'lax $.*.** ? (@.resourceType == "Patient")';

/** Whether shared rows of the type can ever be shown to a patient-context token (sharedVisibleTo's type rules). */
export function sharedWithPatients(type: string): boolean {
  return !hiddenFromPatients(type) && !patientRecordType(type);
}
