import type { Address, ContactPoint, Identifier, Patient } from '@medplum/fhirtypes';
import type { MapperContext, ProjectionRow, ResourceMapper } from '../projection';
import { compact, fromDate, humanNameText, json, requireId, str, toDate, truncate } from './mapper-utils';

export const US_SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
export const V2_IDENTIFIER_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0203';
/** v2-0203 identifier types that name a national id: SS (social security number), NI (national unique individual identifier). */
export const NATIONAL_ID_TYPE_CODES: ReadonlySet<string> = new Set(['SS', 'NI']);

/** The plaintext that patients.contact_info holds (encrypted by the writer). */
export interface PatientContactInfo {
  telecom?: ContactPoint[];
  address?: Address[];
}

/**
 * The patient's national identifier: the first identifier that has a value, is not marked
 * `use: old` (a former id must not claim uniqueness), and either has the US SSN system or a type
 * coded v2-0203 SS or NI.
 */
export function nationalIdentifier(patient: Patient): Identifier | undefined {
  return patient.identifier?.find(
    (id) =>
      !!id.value &&
      id.use !== 'old' &&
      (id.system === US_SSN_SYSTEM ||
        !!id.type?.coding?.some((c) => c.system === V2_IDENTIFIER_TYPE_SYSTEM && NATIONAL_ID_TYPE_CODES.has(c.code ?? ''))),
  );
}

/** The blind-index input: system and value, so equal values in different systems stay distinct. */
export function nationalIdIndexInput(identifier: Identifier): string {
  return `${identifier.system ?? ''}|${identifier.value ?? ''}`;
}

/** Patient → patients (+ patient_national_ids, which keeps national ids unique across patients). */
export const patientMapper: ResourceMapper<Patient> = {
  resourceType: 'Patient',
  tables: ['patients', 'patient_national_ids'],

  toRows(patient: Patient, ctx: MapperContext): ProjectionRow[] {
    const id = requireId(patient);
    const contact: PatientContactInfo = compact({ telecom: patient.telecom, address: patient.address });
    const nid = nationalIdentifier(patient);
    const hash = nid ? ctx.blindIndex(nationalIdIndexInput(nid)) : null;
    const rows: ProjectionRow[] = [
      {
        table: 'patients',
        values: {
          id,
          name: truncate(humanNameText(patient.name), 255) ?? '',
          dob: toDate(patient.birthDate),
          contact_info: contact.telecom || contact.address ? contact : null,
          national_id: nid?.value ?? null,
          national_id_system: truncate(nid?.system, 255),
          national_id_hash: hash,
        },
      },
    ];
    if (hash) rows.push({ table: 'patient_national_ids', values: { national_id_hash: hash, patient_id: id } });
    return rows;
  },

  toResource(row: Record<string, unknown>): Patient {
    const contact = json<PatientContactInfo>(row.contact_info);
    const name = str(row.name);
    const nationalId = str(row.national_id);
    return compact<Patient>({
      resourceType: 'Patient',
      id: String(row.id),
      identifier: nationalId ? [compact({ system: str(row.national_id_system), value: nationalId })] : undefined,
      name: name ? [{ text: name }] : undefined,
      telecom: contact?.telecom,
      birthDate: fromDate(row.dob),
      address: contact?.address,
    });
  },
};
