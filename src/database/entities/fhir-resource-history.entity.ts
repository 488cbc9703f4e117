import { Entity, PrimaryKey, Property, PrimaryKeyProp, type Opt } from '@mikro-orm/core';

/** Any FHIR resource outside a patient compartment: every version. */
@Entity({ tableName: 'fhir_resource_history' })
export class FhirResourceHistoryRow {
  [PrimaryKeyProp]?: ['resourceType', 'id', 'versionId'];

  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @PrimaryKey({ type: 'integer' })
  versionId!: number;
  @Property({ type: 'datetime', columnType: 'timestamptz' })
  lastUpdated!: Date;
  @Property({ type: 'boolean', default: false })
  deleted!: Opt<boolean>;
  @Property({ type: 'json', columnType: 'json', nullable: true })
  content?: unknown;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  contentEnc?: Buffer | null;
  @Property({ type: 'smallint', nullable: true })
  keyId?: number | null;
  /** The interaction that made this version (POST, PUT, PATCH, DELETE) and its status; NULL before they were kept. */
  @Property({ type: 'string', columnType: 'varchar(6)', nullable: true })
  requestMethod?: string | null;
  @Property({ type: 'smallint', nullable: true })
  responseStatus?: number | null;
  /** True when carried over from another owner's history (the resource changed patient), else NULL; filedPatientId: its owner when written (NULL: none). */
  @Property({ type: 'boolean', nullable: true })
  moved?: boolean | null;
  @Property({ type: 'string', columnType: 'fhir_id', nullable: true })
  filedPatientId?: string | null;
}
