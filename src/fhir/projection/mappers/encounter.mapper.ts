import type { Encounter, Practitioner } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import {
  compact,
  conceptText,
  fromTimestamp,
  localRef,
  localRefId,
  patientRef,
  requireId,
  str,
  toTimestamp,
  truncate,
} from './mapper-utils';
import { bedStays } from '../../../hospital/beds/bed-stays';

/** Encounter → encounters (only when its subject is a local Patient: the table is keyed by patient). */
export const encounterMapper: ResourceMapper<Encounter> = {
  resourceType: 'Encounter',
  tables: ['encounters'],

  toRows(encounter: Encounter): ProjectionRow[] {
    const patientId = localRefId(encounter.subject, 'Patient');
    if (!patientId) return [];
    const doctorId = encounter.participant?.map((p) => localRefId(p.individual, 'Practitioner')).find(Boolean);
    const stays = bedStays(encounter);
    return [
      {
        table: 'encounters',
        values: {
          patient_id: patientId,
          id: requireId(encounter),
          doctor_id: doctorId ?? null,
          status: truncate(encounter.status, 50),
          class_code: truncate(encounter.class?.code, 50),
          type_text: truncate(conceptText(encounter.type?.[0]), 255),
          period_start: toTimestamp(encounter.period?.start),
          period_end: toTimestamp(encounter.period?.end),
          // The locations as stays, for the beds module's allocation rule and occupancy.
          locations: stays.length ? stays : null,
        },
      },
    ];
  },

  toResource(row: Record<string, unknown>): Encounter {
    const classCode = str(row.class_code);
    const typeText = str(row.type_text);
    const doctor = localRef<Practitioner>('Practitioner', row.doctor_id);
    const period = compact({ start: fromTimestamp(row.period_start), end: fromTimestamp(row.period_end) });
    return compact<Encounter>({
      resourceType: 'Encounter',
      id: String(row.id),
      status: (str(row.status) ?? 'unknown') as Encounter['status'],
      // class is 1..1; the table keeps only its code, an absent one is "unknown" (NullFlavor UNK).
      class: classCode ? { code: classCode } : { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK' },
      type: typeText ? [{ text: typeText }] : undefined,
      subject: patientRef(row),
      participant: doctor ? [{ individual: doctor }] : undefined,
      period: period.start || period.end ? period : undefined,
    });
  },
};
