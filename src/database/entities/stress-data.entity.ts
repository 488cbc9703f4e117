import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** Observation (wearable stress readings). */
@Entity({ tableName: 'stress_data' })
export class StressDataRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'json', nullable: true })
  readings?: unknown;
  @Property({ type: 'boolean', nullable: true, default: false })
  interventionSuggested?: boolean | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  timestamp?: Date | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
