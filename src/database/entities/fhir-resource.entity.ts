import { Entity, PrimaryKey, Property, PrimaryKeyProp, type Opt } from '@mikro-orm/core';

/** Any FHIR resource outside a patient compartment: its current version (the unit of truth). */
@Entity({ tableName: 'fhir_resource' })
export class FhirResourceRow {
  [PrimaryKeyProp]?: ['resourceType', 'id'];

  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  id!: string;
  @Property({ type: 'integer' })
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
}
