import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** The columns of a booking, with or without a patient. */
abstract class AppointmentBookingColumns {
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  doctorId?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true })
  dateTime?: Date | null;
  @Property({ type: 'string', columnType: 'varchar(50)', nullable: true })
  status?: string | null;
  @Property({ type: 'boolean', nullable: true, default: false })
  aiConflictResolved?: boolean | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  startAt?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  endAt?: Date | null;
  /** The actors the appointment holds (Practitioner/..., Location/..., Device/...): see src/hospital/scheduling. */
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  actors?: string[] | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}

/** Appointment. */
@Entity({ tableName: 'appointments' })
export class AppointmentRow extends AppointmentBookingColumns {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  resourceId?: string | null;
}

/** Appointment with no local Patient participant: the same face without patient_id (see the migration 20261128000100). */
@Entity({ tableName: 'appointments_without_patient' })
export class AppointmentWithoutPatientRow extends AppointmentBookingColumns {
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
}
