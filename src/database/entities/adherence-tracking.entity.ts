import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** MedicationAdministration / MedicationStatement (adherence). */
@Entity({ tableName: 'adherence_tracking' })
export class AdherenceTrackingRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'fhir_id' })
  prescriptionId!: string;
  @Property({ type: 'boolean', nullable: true })
  taken?: boolean | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  timestamp?: Date | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
