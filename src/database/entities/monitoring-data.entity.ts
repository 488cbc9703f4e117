import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** Observation (wearable/sensor device readings). */
@Entity({ tableName: 'monitoring_data' })
export class MonitoringDataRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(100)', nullable: true })
  deviceType?: string | null;
  @Property({ type: 'json', nullable: true })
  readings?: unknown;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  timestamp?: Date | null;
  @Property({ type: 'boolean', nullable: true, default: false })
  anomalyAlert?: boolean | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
