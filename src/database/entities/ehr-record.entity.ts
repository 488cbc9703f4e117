import { Entity, PrimaryKey, Property, PrimaryKeyProp } from '@mikro-orm/core';

/** The hash-chained, encrypted record of clinical documents (DocumentReference, DiagnosticReport, Composition). */
@Entity({ tableName: 'ehr_records' })
export class EhrRecordRow {
  [PrimaryKeyProp]?: ['patientId', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'bigint' })
  seq!: string;
  @Property({ type: 'string', columnType: 'varchar(100)', nullable: true })
  recordType?: string | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  resourceId?: string | null;
  @Property({ type: 'integer', nullable: true })
  resourceVersion?: number | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  data?: Buffer | null;
  @Property({ type: 'smallint', nullable: true })
  keyId?: number | null;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  previousHash?: string | null;
  @Property({ type: 'string', columnType: 'varchar(255)', nullable: true })
  blockchainHash?: string | null;
  @Property({ type: 'datetime', columnType: 'timestamp', nullable: true, defaultRaw: 'now()' })
  createdAt?: Date | null;
}
