import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** Observation (ICU vital-sign panels). */
@Entity({ tableName: 'icu_monitoring' })
export class IcuMonitoringRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'json', nullable: true })
  vitalSigns?: unknown;
  @Property({ type: 'json', nullable: true })
  alerts?: unknown;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  timestamp?: Date | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
