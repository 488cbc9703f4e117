import type { MedicationAdministration, MedicationStatement } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { fromTimestamp, localRef, localRefId, patientRef, requireId, toTimestamp } from './mapper-utils';

/**
 * Adherence events: whether a dose of a prescription was taken. A MedicationAdministration
 * `completed` is a dose taken, `not-done` a dose missed; a MedicationStatement `active`/`completed`
 * says the patient takes it, `not-taken` that they do not. Other statuses (in-progress,
 * entered-in-error, unknown...) are no event, so their row is removed.
 */
export function administrationTaken(ma: MedicationAdministration): boolean | undefined {
  if (ma.status === 'completed') return true;
  if (ma.status === 'not-done') return false;
  return undefined;
}

export function statementTaken(ms: MedicationStatement): boolean | undefined {
  if (ms.status === 'active' || ms.status === 'completed') return true;
  if (ms.status === 'not-taken') return false;
  return undefined;
}

/** The prescription an event is about: MedicationAdministration.request, MedicationStatement.basedOn. */
export const administrationPrescription = (ma: MedicationAdministration): string | undefined => localRefId(ma.request, 'MedicationRequest');
export const statementPrescription = (ms: MedicationStatement): string | undefined =>
  ms.basedOn?.map((r) => localRefId(r, 'MedicationRequest')).find((id): id is string => !!id);

function row(patientId: string | undefined, id: string, prescriptionId: string | undefined, taken: boolean | undefined, at: string | undefined): ProjectionRow[] {
  if (!patientId || !prescriptionId || taken === undefined) return [];
  return [{ table: 'adherence_tracking', values: { patient_id: patientId, id, prescription_id: prescriptionId, taken, timestamp: toTimestamp(at) } }];
}

/** MedicationAdministration → adherence_tracking (with a local Patient subject and MedicationRequest). */
export const medicationAdministrationMapper: ResourceMapper<MedicationAdministration> = {
  resourceType: 'MedicationAdministration',
  tables: ['adherence_tracking'],
  toRows: (ma) =>
    row(localRefId(ma.subject, 'Patient'), requireId(ma), administrationPrescription(ma), administrationTaken(ma), ma.effectiveDateTime ?? ma.effectivePeriod?.start),
  toResource(r: Record<string, unknown>): MedicationAdministration {
    const at = fromTimestamp(r.timestamp);
    return {
      resourceType: 'MedicationAdministration',
      id: String(r.id),
      status: r.taken ? 'completed' : 'not-done',
      medicationCodeableConcept: { text: 'unknown' }, // required; the table does not keep the drug
      subject: patientRef(r),
      request: localRef('MedicationRequest', r.prescription_id),
      ...(at ? { effectiveDateTime: at } : {}),
    } as MedicationAdministration;
  },
};

/** MedicationStatement → adherence_tracking (with a local Patient subject and a basedOn MedicationRequest). */
export const medicationStatementMapper: ResourceMapper<MedicationStatement> = {
  resourceType: 'MedicationStatement',
  tables: ['adherence_tracking'],
  toRows: (ms) =>
    row(
      localRefId(ms.subject, 'Patient'),
      requireId(ms),
      statementPrescription(ms),
      statementTaken(ms),
      ms.effectiveDateTime ?? ms.effectivePeriod?.start ?? ms.dateAsserted,
    ),
  toResource(r: Record<string, unknown>): MedicationStatement {
    const at = fromTimestamp(r.timestamp);
    const basedOn = localRef('MedicationRequest', r.prescription_id);
    return {
      resourceType: 'MedicationStatement',
      id: String(r.id),
      status: r.taken ? 'completed' : 'not-taken',
      medicationCodeableConcept: { text: 'unknown' },
      subject: patientRef(r),
      ...(basedOn ? { basedOn: [basedOn] } : {}),
      ...(at ? { effectiveDateTime: at } : {}),
    } as MedicationStatement;
  },
};
