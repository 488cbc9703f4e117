import type { Appointment, Practitioner } from '@medplum/fhirtypes';
import type { ProjectionRow, ResourceMapper } from '../projection';
import { compact, fromTimestamp, localRef, patientRef, requireId, str, toTimestamp, truncate } from './mapper-utils';
import { appointmentPatient, appointmentPeriod, bookedActors, wasRescheduled } from '../../../hospital/scheduling/appointment-booking';

/**
 * Appointment → appointments when it has a local Patient participant (the table is keyed by
 * patient), else → appointments_without_patient (a staff meeting, an external patient, a Group:
 * the same face without patient_id). Besides the seed's columns, the whole period and the actors
 * it books, which the scheduling rule's overlap query reads (through the view
 * appointment_bookings, over both); ai_conflict_resolved says the server moved it.
 */
export const appointmentMapper: ResourceMapper<Appointment> = {
  resourceType: 'Appointment',
  tables: ['appointments', 'appointments_without_patient'],

  toRows(appointment: Appointment): ProjectionRow[] {
    const patientId = appointmentPatient(appointment);
    const actors = bookedActors(appointment);
    const period = appointmentPeriod(appointment);
    const doctor = actors.find((a) => a.startsWith('Practitioner/'));
    const values = {
      id: requireId(appointment),
      doctor_id: doctor ? doctor.slice('Practitioner/'.length) : null,
      date_time: toTimestamp(appointment.start),
      status: truncate(appointment.status, 50),
      ai_conflict_resolved: wasRescheduled(appointment),
      start_at: period ? new Date(period.start).toISOString() : null,
      end_at: period ? new Date(period.end).toISOString() : null,
      // a text[] literal: the projection writer sends arrays as JSON, which only suits jsonb columns
      actors: textArrayLiteral(actors),
    };
    return [patientId ? { table: 'appointments', values: { patient_id: patientId, ...values } } : { table: 'appointments_without_patient', values }];
  },

  toResource(row: Record<string, unknown>): Appointment {
    const doctor = localRef<Practitioner>('Practitioner', row.doctor_id);
    const actors = Array.isArray(row.actors) ? (row.actors as string[]) : [];
    return compact<Appointment>({
      resourceType: 'Appointment',
      id: String(row.id),
      status: (str(row.status) ?? 'booked') as Appointment['status'],
      start: fromTimestamp(row.start_at) ?? fromTimestamp(row.date_time),
      end: fromTimestamp(row.end_at),
      participant: [
        ...(row.patient_id ? [{ actor: patientRef(row), status: 'accepted' as const }] : []),
        ...(actors.length ? actors : doctor?.reference ? [doctor.reference] : []).map((reference) => ({ actor: { reference }, status: 'accepted' as const })),
      ],
    });
  },
};

/** A PostgreSQL text[] literal of the values, each quoted. */
export function textArrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}
