import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** MedicationRequest. */
@Entity({ tableName: 'prescriptions' })
export class PrescriptionRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  medication?: string | null;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  medicationCode?: string | null;
  @Property({ type: 'string', columnType: 'varchar(100)', nullable: true })
  dosage?: string | null;
  @Property({ type: 'decimal', precision: 3, scale: 2, columnType: 'decimal(3,2)', nullable: true })
  adherenceRate?: string | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  inventoryId?: string | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  doctorId?: string | null;
  @Property({ type: 'string', columnType: 'varchar(50)', nullable: true })
  status?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
