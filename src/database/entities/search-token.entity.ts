import { Entity, PrimaryKey, PrimaryKeyProp, Property } from '@mikro-orm/core';

/** Token search index row (derived from a resource's identifiers); no FHIR resource of its own. */
@Entity({ tableName: 'search_token' })
export class SearchTokenRow {
  [PrimaryKeyProp]?: ['patientId', 'resourceType', 'resourceId', 'code', 'hashSystemValue'];
  @PrimaryKey({ type: 'text', columnType: 'text' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  resourceId!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  code!: string;
  @Property({ type: 'text', columnType: 'text', nullable: true })
  system?: string | null;
  @Property({ type: 'text', columnType: 'text', nullable: true })
  value?: string | null;
  @PrimaryKey({ type: 'blob', columnType: 'bytea' })
  hashSystemValue!: Buffer;
  @Property({ type: 'blob', columnType: 'bytea' })
  hashValue!: Buffer;
}
