import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** A treatment proposal awaiting clinician approval (intent proposal). */
@Entity({ tableName: 'recommendations' })
export class RecommendationRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  diagnosisId?: string | null;
  @Property({ type: 'text', nullable: true })
  recommendation?: string | null;
  @Property({ type: 'boolean', nullable: true, default: true })
  aiGenerated?: boolean | null;
  @Property({ type: 'boolean', nullable: true, default: false })
  approvedByDoctor?: boolean | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  aiModelId?: string | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  doctorId?: string | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
