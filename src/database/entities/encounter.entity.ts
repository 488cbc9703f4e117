import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** Encounter. */
@Entity({ tableName: 'encounters' })
export class EncounterRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  doctorId?: string | null;
  @Property({ type: 'string', columnType: 'varchar(50)', nullable: true })
  status?: string | null;
  @Property({ type: 'string', columnType: 'varchar(50)', nullable: true })
  classCode?: string | null;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  typeText?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  periodStart?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  periodEnd?: Date | null;
  /** Encounter.location as stays (see src/hospital/beds/bed-stays.ts). */
  @Property({ type: 'json', nullable: true })
  locations?: unknown;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
