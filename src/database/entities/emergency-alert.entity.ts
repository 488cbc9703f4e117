import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** Flag / Communication (emergency alerts and responses). */
@Entity({ tableName: 'emergency_alerts' })
export class EmergencyAlertRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'varchar(100)', nullable: true })
  alertType?: string | null;
  @Property({ type: 'string', columnType: 'varchar(50)', nullable: true })
  responseStatus?: string | null;
  @Property({ type: 'json', nullable: true })
  geolocation?: unknown;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  acknowledgedAt?: Date | null;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  acknowledgedBy?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  resolvedAt?: Date | null;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  resolvedBy?: string | null;
  @Property({ type: 'decimal', precision: 12, scale: 3, columnType: 'numeric(12,3)', nullable: true })
  secondsToAcknowledge?: string | null;
  @Property({ type: 'decimal', precision: 12, scale: 3, columnType: 'numeric(12,3)', nullable: true })
  secondsToResolve?: string | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
