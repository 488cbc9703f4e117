import { Entity, PrimaryKey, PrimaryKeyProp, Property } from '@mikro-orm/core';

/**
 * Search index rows (see migration 000400). The tables have no primary key (a resource may have
 * several equal-looking rows under different composite groups); the key declared here is for the
 * ORM only, which needs one.
 */
abstract class SearchRowBase {
  [PrimaryKeyProp]?: ['resourceType', 'resourceId', 'code', 'grp'];
  @Property({ type: 'text', columnType: 'text' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  resourceId!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(128)' })
  code!: string;
  @PrimaryKey({ type: 'integer', columnType: 'integer' })
  grp!: number;
}

@Entity({ tableName: 'search_token' })
export class SearchTokenRow extends SearchRowBase {
  @Property({ type: 'text', columnType: 'text', nullable: true })
  system?: string | null;
  @Property({ type: 'text', columnType: 'text', nullable: true })
  value?: string | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  hashSystemValue?: Buffer | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  hashValue?: Buffer | null;
  @Property({ type: 'text', columnType: 'text', nullable: true })
  text?: string | null;
}

@Entity({ tableName: 'search_string' })
export class SearchStringRow extends SearchRowBase {
  @Property({ type: 'text', columnType: 'text', nullable: true })
  value?: string | null;
  @Property({ type: 'text', columnType: 'text', nullable: true })
  exact?: string | null;
  @Property({ type: 'blob', columnType: 'bytea', nullable: true })
  hash?: Buffer | null;
}

abstract class SearchDateColumns extends SearchRowBase {
  @Property({ type: 'datetime', columnType: 'timestamptz' })
  low!: Date;
  @Property({ type: 'datetime', columnType: 'timestamptz' })
  high!: Date;
}

@Entity({ tableName: 'search_date' })
export class SearchDateRow extends SearchDateColumns {}

/** The date rows of the types kept apart (src/fhir/search/index-tables.ts: AuditEvents; migration 20261128000900). */
@Entity({ tableName: 'search_date_audit' })
export class SearchDateAuditRow extends SearchDateColumns {}

@Entity({ tableName: 'search_number' })
export class SearchNumberRow extends SearchRowBase {
  @Property({ type: 'decimal', columnType: 'numeric' })
  low!: string;
  @Property({ type: 'decimal', columnType: 'numeric' })
  high!: string;
}

@Entity({ tableName: 'search_quantity' })
export class SearchQuantityRow extends SearchRowBase {
  @Property({ type: 'text', columnType: 'text', nullable: true })
  system?: string | null;
  @Property({ type: 'text', columnType: 'text', nullable: true })
  unit?: string | null;
  @Property({ type: 'decimal', columnType: 'numeric' })
  low!: string;
  @Property({ type: 'decimal', columnType: 'numeric' })
  high!: string;
}

abstract class SearchReferenceColumns extends SearchRowBase {
  @Property({ type: 'string', columnType: 'varchar(64)', nullable: true })
  targetType?: string | null;
  @Property({ type: 'text', columnType: 'text', nullable: true })
  targetId?: string | null;
  @Property({ type: 'text', columnType: 'text', nullable: true })
  url?: string | null;
}

@Entity({ tableName: 'search_reference' })
export class SearchReferenceRow extends SearchReferenceColumns {}

/** The reference rows of the types kept apart (src/fhir/search/index-tables.ts: AuditEvents; migration 20261128000900). */
@Entity({ tableName: 'search_reference_audit' })
export class SearchReferenceAuditRow extends SearchReferenceColumns {}

@Entity({ tableName: 'search_uri' })
export class SearchUriRow extends SearchRowBase {
  @Property({ type: 'text', columnType: 'text' })
  value!: string;
}

/** The token and string rows of one resource of a packed type, as parallel arrays (migration 20261128000500, src/fhir/search/index-tables.ts). */
@Entity({ tableName: 'search_packed' })
export class SearchPackedRow {
  [PrimaryKeyProp]?: ['resourceType', 'resourceId'];
  @Property({ type: 'text', columnType: 'text' })
  patientId!: string;
  @PrimaryKey({ type: 'string', columnType: 'varchar(64)' })
  resourceType!: string;
  @PrimaryKey({ type: 'string', columnType: 'fhir_id' })
  resourceId!: string;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  tokenCodes?: string[] | null;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  tokenSystems?: Array<string | null> | null;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  tokenValues?: Array<string | null> | null;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  tokenTexts?: Array<string | null> | null;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  stringCodes?: string[] | null;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  stringValues?: string[] | null;
  @Property({ type: 'string[]', columnType: 'text[]', nullable: true })
  stringExacts?: string[] | null;
}
