import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** CarePlan (personalised wellness plan). */
@Entity({ tableName: 'wellness_plans' })
export class WellnessPlanRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'text', nullable: true })
  planDetails?: string | null;
  @Property({ type: 'boolean', nullable: true, default: true })
  aiGenerated?: boolean | null;
  @Property({ type: 'decimal', precision: 3, scale: 2, columnType: 'decimal(3,2)', nullable: true })
  progress?: string | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
