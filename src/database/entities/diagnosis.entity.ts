import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** Condition (AI confidence as an extension; RiskAssessment for the model estimate). */
@Entity({ tableName: 'diagnoses' })
export class DiagnosisRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  doctorId?: string | null;
  @Property({ type: 'boolean', nullable: true, default: true })
  aiSupported?: boolean | null;
  @Property({ type: 'text', nullable: true })
  diagnosisText?: string | null;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  codeSystem?: string | null;
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  code?: string | null;
  @Property({ type: 'decimal', precision: 3, scale: 2, columnType: 'decimal(3,2)', nullable: true })
  confidenceScore?: string | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  aiModelId?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
