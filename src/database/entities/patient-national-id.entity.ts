import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** Patient.identifier (national id): uniqueness of the blind index across patients. */
@Entity({ tableName: 'patient_national_ids' })
export class PatientNationalIdRow {
  @PrimaryKey({ type: 'blob', columnType: 'bytea' })
  nationalIdHash!: Buffer;
  @Property({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
}
