import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** Communication / virtual Encounter (chatbot therapy sessions). */
@Entity({ tableName: 'therapy_sessions' })
export class TherapySessionRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'text', nullable: true })
  sessionData?: string | null;
  @Property({ type: 'decimal', precision: 3, scale: 2, columnType: 'decimal(3,2)', nullable: true })
  sentimentAnalysis?: string | null;
  @Property({ type: 'text', nullable: true })
  aiResponse?: string | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  aiModelId?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
  @Property({ type: 'integer', nullable: true })
  versionId?: number | null;
  @Property({ type: 'datetime', columnType: 'timestamptz', nullable: true })
  lastUpdated?: Date | null;
}
