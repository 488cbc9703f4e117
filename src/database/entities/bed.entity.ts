import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/** Location (physicalType bd); shared, patient_id names the occupant. */
@Entity({ tableName: 'beds' })
export class BedRow {
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(50)', nullable: true })
  roomNumber?: string | null;
  @Property({ type: 'boolean', nullable: true, default: false })
  occupied?: boolean | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  patientId?: string | null;
  @Property({ type: 'json', nullable: true })
  occupancyPrediction?: unknown;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  resourceId?: string | null;
  /** The ward (Location.partOf). */
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  wardId?: string | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
