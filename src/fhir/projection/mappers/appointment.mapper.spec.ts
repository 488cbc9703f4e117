import type { Appointment } from '@medplum/fhirtypes';
import { appointmentMapper, textArrayLiteral } from './appointment.mapper';
import { fakeCtx, hl7Example } from '../../../../test/helpers/mapper-fixtures';

const rowsOf = (a: Appointment) => appointmentMapper.toRows(a, fakeCtx);

describe('appointmentMapper', () => {
  it('projects the HL7 Appointment example: patient, doctor, period and the actors it books', () => {
    expect(rowsOf(hl7Example('Appointment-example'))).toEqual([
      {
        table: 'appointments',
        values: {
          patient_id: 'example',
          id: 'example',
          doctor_id: 'example',
          date_time: '2013-12-10T09:00:00.000Z',
          status: 'booked',
          ai_conflict_resolved: false,
          start_at: '2013-12-10T09:00:00.000Z',
          end_at: '2013-12-10T11:00:00.000Z',
          actors: '{"Location/1","Practitioner/example"}',
        },
      },
    ]);
  });

  it('leaves out declined participants and non-local actors, derives the end from minutesDuration, flags a server move', () => {
    const a: Appointment = {
      resourceType: 'Appointment',
      id: 'a1',
      status: 'pending',
      start: '2030-01-01T10:00:00+01:00',
      minutesDuration: 20,
      extension: [{ url: 'https://fhir-ai-server.dev/StructureDefinition/appointment-rescheduled-from', valuePeriod: { start: '2030-01-01T08:00:00Z' } }],
      participant: [
        { actor: { reference: 'Patient/p1' }, status: 'accepted' },
        { actor: { reference: 'Practitioner/d1' }, status: 'declined' },
        { actor: { reference: 'Device/x' }, status: 'accepted' },
        { actor: { reference: 'https://elsewhere/Practitioner/d2' }, status: 'accepted' },
      ],
    };
    expect(rowsOf(a)[0].values).toMatchObject({
      patient_id: 'p1',
      doctor_id: null,
      start_at: '2030-01-01T09:00:00.000Z',
      end_at: '2030-01-01T09:20:00.000Z',
      actors: '{"Device/x"}',
      ai_conflict_resolved: true,
    });
  });

  it('projects an appointment without a local Patient participant onto appointments_without_patient', () => {
    const a = hl7Example<Appointment>('Appointment-example');
    const meeting = { ...a, participant: a.participant.filter((p) => !p.actor?.reference?.startsWith('Patient/')) };
    const [row] = rowsOf(meeting);
    expect(row.table).toBe('appointments_without_patient');
    expect(row.values).not.toHaveProperty('patient_id');
    expect(row.values).toMatchObject({ id: 'example', doctor_id: 'example', actors: '{"Location/1","Practitioner/example"}', start_at: '2013-12-10T09:00:00.000Z' });
    expect(appointmentMapper.toResource({ ...row.values, actors: ['Practitioner/example'] }).participant).toEqual([{ actor: { reference: 'Practitioner/example' }, status: 'accepted' }]);
  });

  it('quotes text[] literals', () => {
    expect(textArrayLiteral([])).toBe('{}');
    expect(textArrayLiteral(['a"b', 'c\\d'])).toBe('{"a\\"b","c\\\\d"}');
  });
});
