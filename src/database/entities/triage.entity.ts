import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** RiskAssessment / Observation (triage priority score). */
@Entity({ tableName: 'triage' })
export class TriageRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'integer', nullable: true })
  priorityScore?: number | null;
  @Property({ type: 'text', nullable: true })
  symptoms?: string | null;
  @Property({ type: 'boolean', nullable: true, default: true })
  aiPredicted?: boolean | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  aiModelId?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
